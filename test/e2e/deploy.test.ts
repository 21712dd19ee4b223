import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { parseAllDocuments, parse } from 'yaml';
import { describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config/load.js';
import { formatIssue } from '../../src/config/source.js';
import { writeTempConfig } from '../helpers.js';

const root = (p: string) => fileURLToPath(new URL(`../../${p}`, import.meta.url));
const env = { GANTRY_ADMIN_TOKEN: 'a-long-random-admin-token-value', REDIS_URL: 'redis://127.0.0.1:6379' };

/** The configs shipped in deploy/ load as written, and the manifests wire the probes to real endpoints. */
describe('deploy/', () => {
  it('the image default config and the ConfigMap config are valid', async () => {
    const cm = parse(readFileSync(root('deploy/kubernetes/configmap.yaml'), 'utf8')) as { data: Record<string, string> };
    for (const [name, text] of [
      ['gateway.example.yaml', readFileSync(root('deploy/gateway.example.yaml'), 'utf8')],
      ['configmap gateway.yaml', cm.data['gateway.yaml']!],
    ] as const) {
      const r = await loadConfig(writeTempConfig(text), { env });
      if (!r.ok) throw new Error(`${name}:\n${r.issues.map(formatIssue).join('\n')}`);
    }
  });

  it('probes hit /healthz and /readyz on the admin port; the container runs as non-root', () => {
    const [dep] = parseAllDocuments(readFileSync(root('deploy/kubernetes/deployment.yaml'), 'utf8')).map((d) => d.toJS());
    const pod = dep.spec.template.spec;
    const c = pod.containers[0];
    expect(c.livenessProbe.httpGet).toEqual({ path: '/healthz', port: 'admin' });
    expect(c.readinessProbe.httpGet).toEqual({ path: '/readyz', port: 'admin' });
    expect(c.ports).toContainEqual({ name: 'admin', containerPort: 9901 });
    expect(pod.securityContext.runAsNonRoot).toBe(true);
    expect(c.securityContext.allowPrivilegeEscalation).toBe(false);
    expect(pod.terminationGracePeriodSeconds).toBeGreaterThan(25 + 5);
    const kinds = ['configmap', 'deployment', 'service', 'hpa', 'pdb', 'redis'].flatMap((f) =>
      parseAllDocuments(readFileSync(root(`deploy/kubernetes/${f}.yaml`), 'utf8')).map((d) => (d.toJS() as { kind: string }).kind),
    );
    expect(kinds.sort()).toEqual(['ConfigMap', 'Deployment', 'Deployment', 'HorizontalPodAutoscaler', 'PodDisruptionBudget', 'Service', 'Service', 'Service'].sort());
    const dockerfile = readFileSync(root('deploy/Dockerfile'), 'utf8');
    expect(dockerfile.match(/^FROM /gm)).toHaveLength(2);
    expect(dockerfile).toMatch(/^USER node$/m);
  });
});
