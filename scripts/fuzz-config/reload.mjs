// Reload check of npm run fuzz:config: a real `gantry start` process (admin listener on) gets
// invalid configs through POST /api/reload and SIGHUP, and must reject each (422 with issues
// in `FILE:LINE path: message` form), stay up and keep serving the route it had.
import { spawn } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import { dirname, join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';

const TOKEN = 'fuzz-config-admin-token-0123456789';

function freePort() {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address();
      srv.close(() => resolve(port));
    });
  });
}

const goodConfig = (p) => `version: 1
listeners:
  - { name: public, host: 127.0.0.1, port: ${p.public} }
admin: { host: 127.0.0.1, port: ${p.admin}, token: "\${GANTRY_ADMIN_TOKEN}" }
reload: { watch: false }
log: { level: error, access: false }
routes:
  - name: alive
    match: { path: /fuzz-alive }
    static: { status: 200, body: "alive" }
`;

async function fetchWithin(url, init = {}, ms = 10_000) {
  return fetch(url, { ...init, signal: AbortSignal.timeout(ms) });
}

/**
 * Runs the reload check on `cases` ({ name, text, files }); returns findings (strings).
 * `lineOk(issue, text)` tells whether one issue line has the required form.
 */
export async function reloadCheck({ root, dir, cases, lineOk, deadline, log }) {
  const findings = [];
  const counts = { post: 0, sighup: 0 };
  mkdirSync(dir, { recursive: true });
  const file = join(dir, 'gateway.yaml');
  const ports = { public: await freePort(), admin: await freePort() };
  const good = goodConfig(ports);
  const admin = `http://127.0.0.1:${ports.admin}`;
  const auth = { authorization: `Bearer ${TOKEN}` };
  let child;
  let stderr = '';

  const startGateway = async () => {
    writeFileSync(file, good);
    stderr = '';
    child = spawn(process.execPath, [join(root, 'dist/cli.js'), 'start', '-c', 'gateway.yaml'], {
      cwd: dir,
      env: { ...process.env, GANTRY_ADMIN_TOKEN: TOKEN },
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    child.stderr.on('data', (d) => (stderr += d).length > 100_000 && (stderr = stderr.slice(-50_000)));
    for (let i = 0; i < 150; i++) {
      if (child.exitCode !== null) throw new Error(`gateway exited ${child.exitCode} at start: ${stderr}`);
      try {
        if ((await fetchWithin(`${admin}/healthz`, {}, 1000)).ok) return;
      } catch {}
      await sleep(100);
    }
    throw new Error('gateway did not start within 15 s');
  };
  const stopGateway = async () => {
    if (!child || child.exitCode !== null) return;
    const exited = new Promise((r) => child.once('exit', r));
    child.kill('SIGTERM');
    await Promise.race([exited, sleep(5000)]);
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  };
  const lastReloadAt = async () => (await (await fetchWithin(`${admin}/api/status`, { headers: auth })).json()).lastReload?.at;

  await startGateway();
  try {
    for (const [k, c] of cases.entries()) {
      if (Date.now() > deadline) break;
      for (const [name, body] of Object.entries(c.files ?? {})) {
        mkdirSync(dirname(join(dir, name)), { recursive: true });
        writeFileSync(join(dir, name), body);
      }
      writeFileSync(file, c.text);
      const problems = [];
      try {
        if (k % 4 === 3) {
          counts.sighup++;
          const before = await lastReloadAt();
          child.kill('SIGHUP');
          let status;
          for (let i = 0; i < 100; i++) {
            await sleep(100);
            status = (await (await fetchWithin(`${admin}/api/status`, { headers: auth })).json()).lastReload;
            if (status && status.at !== before) break;
          }
          if (!status || status.at === before) problems.push('SIGHUP: no reload recorded within 10 s');
          else if (status.ok) problems.push('SIGHUP: the invalid config was applied');
          else for (const issue of status.issues ?? []) if (!lineOk(issue, c.text, 'gateway.yaml')) problems.push(`SIGHUP: malformed issue: ${issue.slice(0, 300)}`);
        } else {
          counts.post++;
          const res = await fetchWithin(`${admin}/api/reload`, { method: 'POST', headers: auth });
          const body = await res.json();
          if (res.status !== 422 || body.ok !== false) problems.push(`POST /api/reload: ${res.status} ${JSON.stringify(body).slice(0, 300)}`);
          for (const issue of body.issues ?? []) if (!lineOk(issue, c.text, 'gateway.yaml')) problems.push(`POST /api/reload: malformed issue: ${issue.slice(0, 300)}`);
          if (!Array.isArray(body.issues) || body.issues.length === 0) problems.push('POST /api/reload: no issues in a rejection');
        }
        const alive = await fetchWithin(`http://127.0.0.1:${ports.public}/fuzz-alive`);
        const text = await alive.text();
        if (alive.status !== 200 || text !== 'alive') problems.push(`old route answered ${alive.status} ${text.slice(0, 200)}`);
      } catch (e) {
        problems.push(`${e.name}: ${e.message}${child.exitCode !== null ? ` (gateway exited ${child.exitCode}: ${stderr.slice(-2000)})` : ''}`);
      }
      if (problems.length > 0) {
        findings.push({ case: c, problems });
        log(`reload finding: ${c.name}: ${problems.join('; ')}`);
        await stopGateway();
        await startGateway();
      }
    }
  } finally {
    await stopGateway();
  }
  return { findings, counts };
}
