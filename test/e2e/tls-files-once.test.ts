import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startGateway, type TestGateway } from '../helpers.js';
import { handshake, issue, makeCa, writeSwapAtBuildPlugin, type Issued } from '../tls-fixtures.js';
import { loadConfig } from '../../src/config/load.js';
import { readUpstreamTls } from '../../src/upstreams/tls.js';

/**
 * Certificate and key files are read once per load, like CA files (ca-file-once.test.ts):
 * the listener and upstream a load builds take the bytes its check read, not a second read
 * of files that may have changed in between (a rotation while a reload runs).
 */
describe('certificate and key files: what a load builds is what it checked', () => {
  let dir: string;
  let ca: Issued;
  const pairs: Record<string, Issued> = {};
  /** Writes the `checked` or the `later` pair of each file set. */
  const write = (which: 'checked' | 'later') => {
    for (const name of ['gw', 'api', 'client']) {
      writeFileSync(join(dir, `${name}.pem`), pairs[`${name}-${which}`]!.cert);
      writeFileSync(join(dir, `${name}-key.pem`), pairs[`${name}-${which}`]!.key);
    }
  };

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'gantry-cert-once-'));
    ca = await makeCa('cert-once CA');
    for (const which of ['checked', 'later'] as const) {
      pairs[`gw-${which}`] = await issue(ca, { cn: `gw-${which}`, usage: 'server', dns: ['gw.internal'] });
      pairs[`api-${which}`] = await issue(ca, { cn: `api-${which}`, usage: 'server', dns: ['api.internal'] });
      pairs[`client-${which}`] = await issue(ca, { cn: `client-${which}`, usage: 'client' });
    }
  });

  describe('a listener', () => {
    let gw: TestGateway;

    beforeAll(async () => {
      write('checked');
      // A plugin policy's `create` runs at build, after the load's checks and before the
      // listeners are built: it puts the other certificates and keys in place.
      const later = (name: string) =>
        [
          [join(dir, `${name}-later.pem`), join(dir, `${name}.pem`)],
          [join(dir, `${name}-later-key.pem`), join(dir, `${name}-key.pem`)],
        ] as const;
      for (const name of ['gw', 'api']) {
        writeFileSync(join(dir, `${name}-later.pem`), pairs[`${name}-later`]!.cert);
        writeFileSync(join(dir, `${name}-later-key.pem`), pairs[`${name}-later`]!.key);
      }
      writeSwapAtBuildPlugin(join(dir, 'rotate.mjs'), 'rotate-certs', [...later('gw'), ...later('api')]);
      gw = await startGateway(
        `version: 1
listeners:
  - { name: public, port: 0, host: 127.0.0.1 }
  - name: secure
    port: 0
    host: 127.0.0.1
    protocol: https
    tls: { cert: ./gw.pem, key: ./gw-key.pem, certificates: [ { serverNames: [api.internal], cert: ./api.pem, key: ./api-key.pem } ] }
plugins: [ ./rotate.mjs ]
policies: [ { rotate-certs: {} } ]
routes:
  - { name: ok, match: { path: /ok }, static: { status: 200 } }
`,
        { file: join(dir, 'gateway.yaml') },
      );
    });

    afterAll(async () => {
      await gw?.close();
    });

    it('serves the default certificate the load checked', async () => {
      const seen = await handshake(gw.gw.addresses().secure!.port, 'gw.internal', { ca: ca.cert });
      expect(seen.cn).toBe('gw-checked');
    });

    it('serves the SNI certificate the load checked', async () => {
      const seen = await handshake(gw.gw.addresses().secure!.port, 'api.internal', { ca: ca.cert });
      expect(seen.cn).toBe('api-checked');
    });
  });

  it("an upstream's build takes the client certificate and key its load checked; the next load reads afresh", async () => {
    write('checked');
    const file = join(dir, 'upstream.yaml');
    writeFileSync(
      file,
      `version: 1
listeners: [ { name: public, port: 0, host: 127.0.0.1 } ]
upstreams:
  mtls: { targets: [ "https://127.0.0.1:9" ], tls: { ca: ./ca.pem, cert: ./client.pem, key: ./client-key.pem } }
routes: [ { name: r, match: { path: /r }, upstream: mtls } ]
`,
    );
    writeFileSync(join(dir, 'ca.pem'), ca.cert);
    const first = await loadConfig(file, { env: {} });
    if (!first.ok) throw new Error(first.issues.map((i) => i.message).join('\n'));
    write('later');
    // What the build calls (upstreams/reuse.ts) on the config the load checked.
    const built = readUpstreamTls(first.loaded.config.upstreams.mtls!.tls, first.loaded.baseDir)!;
    expect(String(built.options.cert)).toBe(pairs['client-checked']!.cert);
    expect(String(built.options.key)).toBe(pairs['client-checked']!.key);
    const next = await loadConfig(file, { env: {} });
    if (!next.ok) throw new Error(next.issues.map((i) => i.message).join('\n'));
    expect(String(readUpstreamTls(next.loaded.config.upstreams.mtls!.tls, next.loaded.baseDir)!.options.cert)).toBe(pairs['client-later']!.cert);
  });
});
