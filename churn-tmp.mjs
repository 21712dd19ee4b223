import { writeFileSync, mkdtempSync } from 'node:fs';
import { join } from 'node:path';
import { tmpdir } from 'node:os';
import v8 from 'node:v8'; import vm from 'node:vm';
import pino from 'pino';
const { Gateway } = await import(process.cwd() + '/dist/gateway.js');
const { loadConfig } = await import(process.cwd() + '/dist/config/load.js');
v8.setFlagsFromString('--expose-gc'); const gc = vm.runInNewContext('gc');
const SIZE = 200;
function config(g) {
  const lines = ['version: 1', 'listeners: [ { name: public, port: 0, host: 127.0.0.1 } ]', 'log: { level: error, access: false }', 'upstreams:'];
  for (let i = 0; i < SIZE; i++) lines.push(`  u${g}-${i}: { targets: [ "http://127.0.0.1:${20000 + ((g * SIZE + i) % 20000)}" ] }`);
  lines.push('routes:');
  for (let i = 0; i < SIZE; i++) lines.push(`  - { name: r${g}-${i}, match: { path: "/g${g}/r${i}/*" }, upstream: u${g}-${i} }`);
  return lines.join('\n') + '\n';
}
const file = join(mkdtempSync(join(tmpdir(), 'churn-')), 'gw.yaml');
writeFileSync(file, config(0));
let t = performance.now();
for (let i = 0; i < 10; i++) await loadConfig(file);
console.log('loadConfig ms', ((performance.now() - t) / 10).toFixed(1));
const gw = await Gateway.start(file, { logger: pino({ level: 'error' }) });
const N = Number(process.argv[2] ?? 200);
for (let g = 1; g <= N; g++) {
  writeFileSync(file, config(g));
  const t0 = performance.now();
  await gw.reload();
  await fetch(`http://127.0.0.1:${gw.port()}/g${g}/r${g % SIZE}/x`).then(r => r.text()).catch(() => null);
  if (g % 50 === 0) { gc(); gc(); const m = process.memoryUsage(); console.log(g, 'reload ms', (performance.now() - t0).toFixed(1), 'rss', (m.rss / 2**20).toFixed(1), 'heap', (m.heapUsed / 2**20).toFixed(1), 'ext', (m.external/2**20).toFixed(1), 'ab', (m.arrayBuffers/2**20).toFixed(1)); }
}
await gw.close();
