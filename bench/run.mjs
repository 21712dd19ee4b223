#!/usr/bin/env node
// npm run bench — direct vs through Gantry, measured in one run on loopback.
//
// Starts a fast upstream (nginx `return 200` when installed, else bench/upstream.mjs), the
// gateway processes the rows need, and Redis when a row needs it; loads each row with wrk
// (autocannon when wrk is missing), 50 keep-alive connections, interleaved rounds; prints
// req/s, p50, p99 and ratios. Pins the load generator + upstream to CPU 0 and the gateway
// to CPU 1 (taskset), like ../shared/bench/peers.sh. Everything it starts, it stops. Its
// processes listen on ports the OS picks (bench/ports.mjs), so runs on one machine do not
// load each other's; the gateway gets its own through PORT and UPSTREAM_URL.
//
//   ROUNDS=3 DURATION=10 WARMUP=2 CONNECTIONS=50 ONLY='bare|jwt' UPSTREAM=nginx|node PIN=1 npm run bench
import { spawn, spawnSync } from 'node:child_process';
import { closeSync, existsSync, mkdirSync, openSync, statSync, truncateSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { ROWS } from './rows.mjs';
import { ceilingScript, writeNginxUpstream } from './upstream-nginx.mjs';
import { freePorts, waitFor } from './ports.mjs';

const HERE = dirname(fileURLToPath(import.meta.url));
const ROOT = resolve(HERE, '..');
const RUN = join(HERE, '.run');
const env = process.env;
const ROUNDS = Number(env.ROUNDS ?? 3);
const DURATION = Number(env.DURATION ?? 10);
const WARMUP = Number(env.WARMUP ?? 2);
const CONNECTIONS = Number(env.CONNECTIONS ?? 50);
const ONLY = env.ONLY ? new RegExp(env.ONLY, 'i') : null;
const has = (bin) => spawnSync('sh', ['-c', `command -v ${bin}`]).status === 0;
const PIN = env.PIN !== '0' && has('taskset') && (await import('node:os')).cpus().length >= 2;
const LOAD_CPU = env.LOAD_CPUS ?? '0';
const PROXY_CPU = env.PROXY_CPUS ?? '1';
const UPSTREAM = env.UPSTREAM ?? (has('nginx') ? 'nginx' : 'node');
const LOADGEN = env.LOADGEN ?? (has('wrk') ? 'wrk' : 'autocannon');
const NOISY_SPREAD = 1.15;

mkdirSync(join(RUN, 'logs'), { recursive: true });
const children = [];
const logFiles = [];
const log = (...a) => console.error(`[bench ${new Date().toISOString().slice(11, 19)}]`, ...a);

function start(name, cmd, args, { cpus, extraEnv, cwd } = {}) {
  const argv = PIN && cpus ? ['taskset', '-c', cpus, cmd, ...args] : [cmd, ...args];
  // Output goes straight to a file, as in the peer harness: a pipe would make this runner
  // read every access-log line on the load generator's CPU.
  const out = join(RUN, 'logs', `${name}.log`);
  writeFileSync(out, '');
  const fd = openSync(out, 'a'); // appending: trimLogs may truncate it while the child writes
  logFiles.push(out);
  const child = spawn(argv[0], argv.slice(1), {
    cwd: cwd ?? ROOT,
    env: { ...env, ...extraEnv },
    stdio: ['ignore', fd, fd],
    detached: true,
  });
  closeSync(fd);
  children.push(child);
  log(`started ${name}${PIN && cpus ? ` (cpu ${cpus})` : ''}, pid ${child.pid}, log ${out}`);
  return child;
}

/** Keeps the first 256 KB of each log (startup lines, first errors): access logs grow large. */
function trimLogs() {
  for (const file of logFiles) {
    try {
      if (statSync(file).size > 256 * 1024) truncateSync(file, 256 * 1024);
    } catch {}
  }
}

function stopAll() {
  for (const c of children.reverse()) {
    try {
      process.kill(-c.pid, 'SIGTERM');
    } catch {}
  }
}
process.on('exit', stopAll);
process.on('SIGINT', () => process.exit(130));

function startUpstream(port) {
  if (UPSTREAM === 'nginx') {
    return start('upstream', 'nginx', ['-e', 'stderr', '-c', writeNginxUpstream(join(RUN, 'nginx'), port)], { cpus: LOAD_CPU });
  }
  return start('upstream', process.execPath, [join(HERE, 'upstream.mjs'), String(port)], { cpus: LOAD_CPU });
}

function startRedis(port) {
  const dir = join(RUN, 'redis');
  mkdirSync(dir, { recursive: true });
  start('redis', 'redis-server', ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--dir', dir], {
    cpus: LOAD_CPU,
  });
}

/** Runs the load generator once; resolves { rps, p50, p99, errors }. */
function load(url, headers, seconds) {
  const h = Object.entries(headers ?? {});
  let argv;
  if (LOADGEN === 'wrk') {
    argv = ['wrk', '-t1', `-c${CONNECTIONS}`, `-d${seconds}s`, '--timeout', '5s', '--latency', ...h.flatMap(([k, v]) => ['-H', `${k}: ${v}`]), url];
  } else {
    argv = [join(ROOT, 'node_modules/.bin/autocannon'), '-c', String(CONNECTIONS), '-d', String(seconds), '-j', ...h.flatMap(([k, v]) => ['-H', `${k}=${v}`]), url];
  }
  if (PIN) argv = ['taskset', '-c', LOAD_CPU, ...argv];
  const r = spawnSync(argv[0], argv.slice(1), { encoding: 'utf8', timeout: (seconds + 30) * 1000 });
  return LOADGEN === 'wrk' ? parseWrk(r.stdout) : parseAutocannon(r.stdout);
}

function parseWrk(out) {
  const ms = (v) => (v.endsWith('us') ? parseFloat(v) / 1000 : v.endsWith('ms') ? parseFloat(v) : v.endsWith('s') ? parseFloat(v) * 1000 : parseFloat(v));
  const rps = Number(/Requests\/sec:\s+([\d.]+)/.exec(out)?.[1] ?? 0);
  const p50 = ms(/^\s+50%\s+(\S+)/m.exec(out)?.[1] ?? '0');
  const p99 = ms(/^\s+99%\s+(\S+)/m.exec(out)?.[1] ?? '0');
  let errors = 0;
  const se = /Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)/.exec(out);
  if (se) errors += se.slice(1).reduce((a, b) => a + Number(b), 0);
  const n2 = /Non-2xx or 3xx responses: (\d+)/.exec(out);
  if (n2) errors += Number(n2[1]);
  return { rps, p50, p99, errors };
}

function parseAutocannon(out) {
  const r = JSON.parse(out);
  return { rps: r.requests.average, p50: r.latency.p50, p99: r.latency.p99, errors: r.errors + r.timeouts + r.non2xx };
}

const median = (xs) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
};

async function main() {
  const rows = ROWS.filter((r) => !ONLY || ONLY.test(r.name) || r.baseline || r.target === 'direct' || r.target === 'ceiling');
  if (!existsSync(join(ROOT, 'dist/cli.js'))) throw new Error('dist/cli.js is missing: run npm run build');
  const skipped = new Map();
  const needsRedis = rows.some((r) => r.needs?.includes('redis'));
  if (needsRedis && !has('redis-server')) for (const r of rows) if (r.needs?.includes('redis')) skipped.set(r.name, 'redis-server not installed');
  // The node ceiling of the peer harness (a bare undici dispatch proxy), when it is around.
  const ceiling = rows.find((r) => r.target === 'ceiling');
  const script = ceilingScript(ROOT);
  if (ceiling && !existsSync(script)) skipped.set(ceiling.name, `${script} not found (set CEILING_SCRIPT)`);
  // One gateway process per distinct spec.
  const specs = new Map();
  for (const row of rows) {
    if (row.target === 'direct' || row.target === 'ceiling' || skipped.has(row.name)) continue;
    const g = { config: 'bench/gateway.yaml', workers: 1, env: {}, ...row.gateway };
    const key = JSON.stringify(g);
    if (!specs.has(key)) specs.set(key, { ...g, rows: [] });
    specs.get(key).rows.push(row);
  }

  const [upstreamPort, redisPort, ceilingPort, ...gatewayPorts] = await freePorts(3 + specs.size);
  const upstreamUrl = `http://127.0.0.1:${upstreamPort}`;
  const upstream = startUpstream(upstreamPort);
  await waitFor(`${upstreamUrl}/`);
  // A process that could not bind its port exits; whatever answers there then is not ours.
  if (upstream.exitCode !== null) throw new Error(`the upstream exited (${upstream.exitCode}), see ${RUN}/logs/upstream.log`);
  log(`upstream on port ${upstreamPort}`);
  if (needsRedis && has('redis-server')) startRedis(redisPort);
  const servers = []; // [rows, process]: checked once they answered
  if (ceiling && !skipped.has(ceiling.name)) {
    ceiling.port = ceilingPort;
    const child = start('node-ceiling', process.execPath, [script], {
      cpus: PROXY_CPU,
      extraEnv: { PORT: String(ceilingPort), UPSTREAM_URL: upstreamUrl, NODE_PATH: join(ROOT, 'node_modules') },
    });
    servers.push([[ceiling], child]);
  }
  for (const [i, s] of [...specs.values()].entries()) {
    const port = gatewayPorts[i];
    for (const row of s.rows) row.port = port;
    const args = [join(ROOT, 'dist/cli.js'), 'start', '--config', s.config];
    if (s.workers > 1) args.push('--workers', String(s.workers));
    log(`gateway-${i + 1}: ${s.config}${s.workers > 1 ? ` --workers ${s.workers}` : ''} on port ${port}`);
    const child = start(`gateway-${i + 1}`, process.execPath, args, {
      // Cluster rows get both CPUs, as an operator would give them.
      cpus: s.workers > 1 ? `${LOAD_CPU},${PROXY_CPU}` : PROXY_CPU,
      extraEnv: { PORT: String(port), UPSTREAM_URL: upstreamUrl, REDIS_URL: `redis://127.0.0.1:${redisPort}`, ...s.env },
    });
    servers.push([s.rows, child]);
  }
  for (const row of rows) {
    if (row.prepare && !skipped.has(row.name)) Object.assign((row.headers ??= {}), (await row.prepare())?.headers);
    row.url = row.target === 'direct' ? `${upstreamUrl}${row.path}` : `http://127.0.0.1:${row.port}${row.path}`;
    if (skipped.has(row.name)) continue;
    {
      try {
        const status = await waitFor(row.url, row.headers);
        if (status >= 400) skipped.set(row.name, `answered ${status} before the run`);
      } catch (e) {
        skipped.set(row.name, e.message);
      }
    }
  }
  for (const [served, child] of servers) {
    if (child.exitCode === null && child.signalCode === null) continue;
    for (const row of served) if (!skipped.has(row.name)) skipped.set(row.name, `its process exited (${child.exitCode ?? child.signalCode}) before the run, see its log`);
  }

  const live = rows.filter((r) => !skipped.has(r.name));
  log(`measuring ${live.length} rows: ${ROUNDS} rounds × ${DURATION}s (+${WARMUP}s warm-up), ${LOADGEN} -c${CONNECTIONS}, upstream ${UPSTREAM}, pin=${PIN}`);
  const results = new Map(live.map((r) => [r.name, []]));
  for (let round = 1; round <= ROUNDS; round++) {
    const order = round % 2 ? live : [...live].reverse();
    for (const row of order) {
      if (WARMUP > 0) load(row.url, row.headers, WARMUP);
      const r = load(row.url, row.headers, DURATION);
      results.get(row.name).push(r);
      trimLogs();
      log(`round ${round} ${row.name.padEnd(36)} ${Math.round(r.rps).toString().padStart(7)} req/s  p50 ${r.p50.toFixed(2)} ms  p99 ${r.p99.toFixed(2)} ms  errors ${r.errors}`);
    }
  }

  const med = (name, k) => median(results.get(name).map((r) => r[k]));
  /** Fastest round over slowest round (1.00 = perfectly steady). */
  const spreadOf = (name) => {
    const rps = results.get(name).map((r) => r.rps);
    return Math.max(...rps) / Math.max(1, Math.min(...rps));
  };
  const direct = rows.find((r) => r.target === 'direct' && results.has(r.name));
  const base = rows.find((r) => r.baseline && results.has(r.name));
  const ceil = rows.find((r) => r.target === 'ceiling' && results.has(r.name));
  const lines = [
    `upstream: ${UPSTREAM}; load: ${LOADGEN} -c${CONNECTIONS}, ${DURATION}s × ${ROUNDS} rounds (medians), warm-up ${WARMUP}s; ` +
      `pinning: ${PIN ? `load + upstream on cpu ${LOAD_CPU}, gateway on cpu ${PROXY_CPU}` : 'none'}; node ${process.version}`,
    '',
    '| row | req/s | p50 ms | p99 ms | vs direct | vs node ceiling | vs bare proxy | errors | spread | req/s per round |',
    '|---|--:|--:|--:|--:|--:|--:|--:|--:|---|',
  ];
  for (const row of rows) {
    if (skipped.has(row.name)) {
      lines.push(`| ${row.name} | skipped | | | | | | | | ${skipped.get(row.name)} |`);
      continue;
    }
    const rps = med(row.name, 'rps');
    const ratio = (other) => (other ? (rps / med(other.name, 'rps')).toFixed(2) : 'n/a');
    const errors = results.get(row.name).reduce((a, r) => a + r.errors, 0);
    lines.push(
      `| ${row.name} | ${Math.round(rps)} | ${med(row.name, 'p50').toFixed(2)} | ${med(row.name, 'p99').toFixed(2)} | ${ratio(direct)} | ${ratio(ceil)} | ${ratio(base)} | ${errors} | ${spreadOf(row.name).toFixed(2)} | ${results
        .get(row.name)
        .map((r) => Math.round(r.rps))
        .join(', ')} |`,
    );
  }
  // On a shared machine one round can run at half speed, and ratios of such a run mean
  // little: any row whose rounds differ by more than NOISY_SPREAD marks the run noisy.
  const worst = live.map((r) => [r.name, spreadOf(r.name)]).sort((a, b) => b[1] - a[1])[0];
  if (worst && worst[1] > NOISY_SPREAD) {
    lines.push('', `**Noisy run:** '${worst[0]}' varied by ${worst[1].toFixed(2)}× between rounds (max/min req/s > ${NOISY_SPREAD}); compare ratios from a steadier run.`);
  }
  const table = lines.join('\n');
  console.log('\n' + table);
  writeFileSync(join(RUN, 'table.md'), table + '\n');
}

main()
  .catch((e) => {
    console.error(e);
    process.exitCode = 1;
  })
  .finally(() => {
    stopAll();
    setTimeout(trimLogs, 200).unref();
    setTimeout(() => process.exit(), 300).unref();
  });
