#!/usr/bin/env node
// npm run bench:instructions — instructions per request under valgrind's callgrind.
//
// Wall-clock req/s on a shared 2-core machine swings by ±30% between neighbouring runs;
// instruction counts do not (steady windows repeat within ~2%), and the ratio of instructions
// per request between two processes predicts the ratio of their req/s on a quiet machine.
// Per row: the process runs under `valgrind --tool=callgrind --instr-atstart=no`, is warmed
// with WARM requests over CONNECTIONS keep-alive connections, then instrumentation is switched
// on for exactly N requests on the same connections (a new connection triggers a V8
// deoptimisation wave that would pollute the window), switched off, dumped and read back with
// callgrind_annotate. The share of the window spent in V8's optimizing compiler tells whether
// the process was in a steady state; when it was not, the same process gets WARM/2 more
// requests and another window (up to WINDOWS). This complements `npm run bench` and the peer
// harness; it replaces neither.
//
//   WARM=40000 N=4000 CONNECTIONS=50 ONLY='regex' ROW_TIMEOUT=900 ATTEMPTS=2 WINDOWS=3 UPSTREAM=nginx|node PIN=1 npm run bench:instructions
import { spawn, spawnSync } from 'node:child_process';
import { closeSync, copyFileSync, existsSync, mkdirSync, openSync, readFileSync, rmSync, statSync, truncateSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { setTimeout as sleep } from 'node:timers/promises';
import { Pool } from 'undici';
import { ROWS } from './rows.mjs';
import { ceilingScript, writeNginxUpstream } from './upstream-nginx.mjs';

const HERE = dirname(fileURLToPath(import.meta.url));
const ROOT = resolve(HERE, '..');
const RUN = join(HERE, '.run', 'instructions');
const env = process.env;
const WARM = Number(env.WARM ?? 40_000);
const N = Number(env.N ?? 4_000);
const CONNECTIONS = Number(env.CONNECTIONS ?? 50);
const ROW_TIMEOUT = Number(env.ROW_TIMEOUT ?? 900);
const ATTEMPTS = Number(env.ATTEMPTS ?? 2); // a row that failed (stall, foreign client) is measured again
// A window still in V8's optimizing compiler (> COMPILE_STEADY) is followed by WARM/2 more requests and another window.
const WINDOWS = Number(env.WINDOWS ?? 3);
const ONLY = env.ONLY ? new RegExp(env.ONLY, 'i') : null;
const COMPILE_WARN = 0.03; // the table warns above this share
// Steady: below this share a window is taken. 1.4% in the compiler moved a row's count by 2%.
const COMPILE_STEADY = 0.01;
const MAJOR_GC = /ConcurrentMarking|MarkingVisitor|MarkCompact|IncrementalMarking|Sweeper|MarkingBarrier|MarkingWorklist/;
const has = (bin) => spawnSync('sh', ['-c', `command -v ${bin}`]).status === 0;
const PIN = env.PIN !== '0' && has('taskset') && (await import('node:os')).cpus().length >= 2;
const LOAD_CPU = env.LOAD_CPUS ?? '0';
const PROXY_CPU = env.PROXY_CPUS ?? '1';
// This process is the load generator: it shares LOAD_CPUS with the upstream, as in bench/run.mjs.
if (PIN) spawnSync('taskset', ['-a', '-p', '-c', LOAD_CPU, String(process.pid)], { stdio: 'ignore' });
const UPSTREAM = env.UPSTREAM ?? (has('nginx') ? 'nginx' : 'node');
// Ports: bench/run.mjs's (upstream 19002, ceiling 19124, gateway 19150) are also used by other
// bench scripts on this machine, and a load generator that finds its own server's port taken by
// the measured process loads it instead (it happened: 2.3x the count). The OS picks free ones.
// Measured unless ONLY selects others; the ceiling and the baseline are always measured (ratios).
const DEFAULT_ROWS = new Set(['bare proxy route', 'request-id + headers + access log']);

const log = (...a) => console.error(`[bench:instructions ${new Date().toISOString().slice(11, 19)}]`, ...a);
const children = new Set();

for (const bin of ['valgrind', 'callgrind_control', 'callgrind_annotate']) {
  if (!has(bin)) {
    console.error(`${bin} is not on PATH. Install valgrind (it ships callgrind_control and callgrind_annotate):\n  apt-get install -y valgrind`);
    process.exit(1);
  }
}

/** Spawns a process in its own group, output to a file (a pipe would make this runner read every log line). */
function start(name, argv, extraEnv) {
  // Pinned like bench/run.mjs: upstream on LOAD_CPUS, the measured process on PROXY_CPUS.
  const full = PIN ? ['taskset', '-c', name === 'upstream' ? LOAD_CPU : PROXY_CPU, ...argv] : argv;
  const out = join(RUN, `${name}.log`);
  writeFileSync(out, '');
  const fd = openSync(out, 'a');
  const child = spawn(full[0], full.slice(1), { cwd: ROOT, env: { ...env, ...extraEnv }, stdio: ['ignore', fd, fd], detached: true });
  closeSync(fd);
  child.exited = new Promise((r) => {
    child.once('exit', r);
    child.once('error', (e) => {
      log(`${name}: ${e.message}`);
      r(e.code);
    });
  });
  children.add(child);
  child.exited.then(() => children.delete(child));
  log(`started ${name}, pid ${child.pid}, log ${out}`);
  return child;
}

/** SIGTERM to the process group, SIGKILL after 10 s. */
async function stop(child) {
  if (!child?.pid || child.exitCode !== null || child.signalCode !== null) return;
  const kill = (sig) => {
    try {
      process.kill(-child.pid, sig);
    } catch {}
  };
  kill('SIGTERM');
  if ((await Promise.race([child.exited.then(() => true), sleep(10_000, false)])) === false) {
    kill('SIGKILL');
    await Promise.race([child.exited, sleep(5_000)]);
  }
}
process.on('exit', () => {
  for (const c of children) {
    try {
      process.kill(-c.pid, 'SIGKILL'); // a started process leads its own group
    } catch {
      c.kill('SIGKILL');
    }
  }
});
for (const sig of ['SIGINT', 'SIGTERM']) process.on(sig, () => process.exit(130));

/** A free port on 127.0.0.1, picked by the OS. */
function freePort() {
  return new Promise((res, rej) => {
    const s = createServer();
    s.once('error', rej);
    s.listen(0, '127.0.0.1', () => {
      const got = s.address().port;
      s.close(() => res(got));
    });
  });
}

async function waitFor(url, headers, timeoutMs) {
  const end = Date.now() + timeoutMs;
  while (Date.now() < end) {
    try {
      const r = await fetch(url, { headers });
      await r.arrayBuffer();
      if (r.status < 500) return r.status;
    } catch {}
    await sleep(250);
  }
  throw new Error(`${url} did not answer within ${timeoutMs / 1000} s`);
}

/** The upstream of bench/run.mjs: nginx `return 200` when installed, else bench/upstream.mjs. */
function startUpstream(p) {
  if (UPSTREAM !== 'nginx') return start('upstream', [process.execPath, join(HERE, 'upstream.mjs'), String(p)]);
  return start('upstream', ['nginx', '-e', 'stderr', '-c', writeNginxUpstream(join(RUN, 'nginx'), p)]);
}

/** `count` GET requests, CONNECTIONS at a time on the pool's keep-alive connections; returns non-200 count. */
async function drive(pool, path, headers, count) {
  let left = count;
  let bad = 0;
  const worker = async () => {
    while (left-- > 0) {
      const r = await pool.request({ path, method: 'GET', headers });
      if (r.statusCode !== 200) bad++;
      await r.body.arrayBuffer();
    }
  };
  await Promise.all(Array.from({ length: CONNECTIONS }, worker));
  return bad;
}

/**
 * Peers connected to 127.0.0.1:port (`ss`), or null when ss is missing. Ports are shared by
 * convention with other bench scripts: a client that is not ours in the window inflates the count.
 */
function peersOf(p) {
  const r = spawnSync('ss', ['-Htn', 'state', 'established', `( sport = :${p} )`], { encoding: 'utf8', timeout: 10_000 });
  if (r.status !== 0) return null;
  return new Set(r.stdout.split('\n').map((l) => l.trim().split(/\s+/).at(-1)).filter(Boolean));
}

function callgrindControl(args) {
  const r = spawnSync('callgrind_control', args, { encoding: 'utf8', timeout: 60_000 });
  if (r.status !== 0) throw new Error(`callgrind_control ${args.join(' ')} failed: ${r.error?.message ?? ''}${r.stderr}${r.stdout}`);
}

/**
 * Program total, the optimizing compiler's self cost and the major GC's (mark-compact: marking,
 * sweeping, compaction; scavenges are a steady per-request cost and are not counted), from
 * callgrind_annotate. Asynchronous: the row's connections are kept busy meanwhile.
 */
function annotate(file) {
  return new Promise((resolve, reject) => {
    const child = spawn('callgrind_annotate', ['--inclusive=no', '--threshold=100', file], { stdio: ['ignore', 'pipe', 'pipe'] });
    children.add(child);
    const chunks = [];
    let err = '';
    child.stdout.on('data', (d) => chunks.push(d));
    child.stderr.on('data', (d) => (err += d));
    const timer = setTimeout(() => child.kill('SIGKILL'), 180_000);
    child.once('error', reject);
    child.once('close', (code) => {
      clearTimeout(timer);
      children.delete(child);
      if (code !== 0) return reject(new Error(`callgrind_annotate ${file} failed (${code}): ${err}`));
      let total = 0;
      let compile = 0;
      let majorGc = 0;
      for (const line of Buffer.concat(chunks).toString('utf8').split('\n')) {
        const m = /^\s*([\d,]+) \([^)]*\)\s+(.*)$/.exec(line);
        if (!m) continue;
        const ir = Number(m[1].replaceAll(',', ''));
        if (m[2].includes('PROGRAM TOTALS')) total = ir;
        else if (m[2].includes('compiler::') || m[2].includes('Compil')) compile += ir;
        else if (MAJOR_GC.test(m[2])) majorGc += ir;
      }
      if (!total) return reject(new Error(`no PROGRAM TOTALS in callgrind_annotate ${file}`));
      resolve({ total, compile, majorGc });
    });
  });
}

/** Until `promise` settles, one request per connection every second: an idle one would hit the server's keep-alive timeout. */
async function keepBusy(pool, row, promise) {
  let settled = false;
  const done = promise.finally(() => (settled = true));
  done.catch(() => {});
  while (!settled) {
    await drive(pool, row.path, row.headers, CONNECTIONS);
    await Promise.race([sleep(1000), done.catch(() => {})]);
  }
  return done;
}

/** The dump callgrind_control -d asked for, once complete (its last line is `totals:`). */
async function dumped(file) {
  for (let i = 0; i < 120; i++) {
    if (existsSync(file) && /\ntotals: \d+\s*$/.test(readFileSync(file, 'utf8').slice(-200))) return file;
    await sleep(250);
  }
  throw new Error(`${file} was not written`);
}

/** One row: a fresh process under callgrind, warmed, measured over N requests (until steady, up to WINDOWS times), stopped. */
async function runRow(row, st) {
  const slug = row.name.replace(/[^a-z0-9]+/gi, '-').replace(/^-|-$/g, '').toLowerCase();
  const out = join(RUN, `${slug}.callgrind`);
  for (let w = 0; w <= WINDOWS; w++) rmSync(w ? `${out}.${w}` : out, { force: true });
  const p = row.target === 'ceiling' ? st.ports.ceiling : st.ports.gateway;
  const target = row.target === 'ceiling' ? [row.script] : [join(ROOT, 'dist/cli.js'), 'start', '--config', 'bench/gateway.yaml'];
  const argv = ['valgrind', '--tool=callgrind', '--instr-atstart=no', `--callgrind-out-file=${out}`, process.execPath, '--perf-basic-prof', ...target];
  row.command = `PORT=${p} UPSTREAM_URL=${st.upstreamUrl}${row.target === 'ceiling' ? ' NODE_PATH=node_modules' : ''} ${argv.join(' ').replace(ROOT + '/', '')}`;
  st.slug = slug;
  const child = (st.child = start(slug, argv, { PORT: String(p), UPSTREAM_URL: st.upstreamUrl, NODE_PATH: join(ROOT, 'node_modules') }));
  const url = `http://127.0.0.1:${p}`;
  await Promise.race([waitFor(url + row.path, row.headers, 180_000), child.exited.then((c) => Promise.reject(new Error(`exited (${c}) before answering, see ${RUN}/${slug}.log`)))]);

  const pool = (st.pool = new Pool(url, { connections: CONNECTIONS, pipelining: 1, keepAliveTimeout: 600_000, keepAliveMaxTimeout: 600_000 }));
  let connects = 0;
  pool.on('connect', () => connects++);
  let result;
  for (let w = 1; w <= WINDOWS; w++) {
    const warm = w === 1 ? WARM : Math.ceil(WARM / 2);
    const t0 = Date.now();
    const warmBad = await drive(pool, row.path, row.headers, warm);
    if (warmBad) throw new Error(`${warmBad} of ${warm} warm-up responses were not 200`);
    log(`${row.name}: warmed with ${warm} requests in ${((Date.now() - t0) / 1000).toFixed(0)} s over ${connects} connections`);

    const before = connects;
    const ours = peersOf(p);
    if (ours && ours.size > CONNECTIONS) throw new Error(`${ours.size - CONNECTIONS} connections to port ${p} are not this run's: another client is loading it`);
    const foreign = new Set();
    const watch = () => {
      for (const peer of peersOf(p) ?? []) if (!ours.has(peer)) foreign.add(peer);
    };
    callgrindControl(['-i', 'on', String(child.pid)]);
    const t1 = Date.now();
    const watcher = ours && setInterval(watch, 1000);
    const bad = await drive(pool, row.path, row.headers, N)
      .catch((e) => {
        // The first instrumented turn re-translates all code; when it outlasts the server's keep-alive
        // timeout (5 s: a busy machine, or not warm yet), the server closes connections with requests pending.
        throw new Error(`${e.message} during the window: the instrumented process stalled past its keep-alive timeout (busy machine or too little WARM)`);
      })
      .finally(() => clearInterval(watcher));
    callgrindControl(['-i', 'off', String(child.pid)]);
    if (ours) watch();
    const strangers = foreign.size - (connects - before); // minus this run's own reconnections (warned about below)
    if (strangers > 0) throw new Error(`${strangers} connections not from this run reached port ${p} during the window (another bench on the same port?): re-run`);
    const seconds = (Date.now() - t1) / 1000;
    callgrindControl(['-d', String(child.pid)]);
    if (bad) throw new Error(`${bad} of ${N} measured responses were not 200`);
    const file = `${out}.${w}`;
    const { total, compile, majorGc } = await keepBusy(pool, row, dumped(file).then(annotate));
    result = { perRequest: total / N, compileShare: compile / total, gcShare: majorGc / total, newConnections: connects - before, window: w, file };
    log(
      `${row.name}: window ${w}: ${(total / N / 1000).toFixed(1)}k instructions/request, compiler ${(100 * result.compileShare).toFixed(1)}%, ` +
        `major GC ${(100 * result.gcShare).toFixed(1)}%, ${seconds.toFixed(0)} s, profile ${file}`,
    );
    if (result.compileShare <= COMPILE_STEADY) break;
  }
  await pool.close();
  st.pool = null;
  await stop(child);
  return result;
}

/** After a row's process exited: its perf map beside the profile, the empty exit dump gone, the log trimmed. */
function tidy(slug, pid) {
  const map = `/tmp/perf-${pid}.map`; // --perf-basic-prof: names of JIT code addresses
  if (existsSync(map)) {
    copyFileSync(map, join(RUN, `${slug}.map`));
    rmSync(map, { force: true });
  }
  rmSync(join(RUN, `${slug}.callgrind`), { force: true }); // written at exit, instrumentation off: empty
  const logFile = join(RUN, `${slug}.log`); // keeps the first 256 KB (startup, first errors): access logs grow large
  if (existsSync(logFile) && statSync(logFile).size > 256 * 1024) truncateSync(logFile, 256 * 1024);
}

/** runRow with a deadline; the process and the pool are gone afterwards either way. */
async function measure(row, ports, upstreamUrl) {
  const st = { ports, upstreamUrl, child: null, pool: null };
  let timer;
  const deadline = new Promise((_, reject) => {
    timer = setTimeout(() => reject(new Error(`timed out after ${ROW_TIMEOUT} s`)), ROW_TIMEOUT * 1000);
  });
  const work = runRow(row, st);
  work.catch(() => {});
  try {
    return await Promise.race([work, deadline]);
  } finally {
    clearTimeout(timer);
    await st.pool?.destroy().catch(() => {});
    await stop(st.child);
    if (st.child) tidy(st.slug, st.child.pid);
  }
}

function version(cmd, args) {
  return spawnSync(cmd, args, { encoding: 'utf8' }).stdout?.trim() || '?';
}

async function main() {
  if (!existsSync(join(ROOT, 'dist/cli.js'))) throw new Error('dist/cli.js is missing: run npm run build');
  mkdirSync(RUN, { recursive: true });
  // Rows of bench/rows.mjs that run on the default gateway config (bench/gateway.yaml, one worker).
  const eligible = ROWS.filter((r) => r.target === 'ceiling' || (!r.target && !r.gateway && !r.needs && !r.prepare));
  const rows = eligible
    .filter((r) => r.target === 'ceiling' || r.baseline || (ONLY ? ONLY.test(r.name) : DEFAULT_ROWS.has(r.name)))
    .map((r) => ({ ...r, headers: r.headers ?? {} }));
  const ceiling = rows.find((r) => r.target === 'ceiling');
  const skipped = new Map();
  if (ceiling) {
    ceiling.script = ceilingScript(ROOT);
    if (!existsSync(ceiling.script)) skipped.set(ceiling.name, `${ceiling.script} not found (set CEILING_SCRIPT)`);
  }

  const ports = { ceiling: await freePort(), gateway: await freePort() };
  const upstreamPort = await freePort();
  const upstream = startUpstream(upstreamPort);
  const upstreamUrl = `http://127.0.0.1:${upstreamPort}`;
  await Promise.race([waitFor(`${upstreamUrl}/`, {}, 20_000), upstream.exited.then(() => Promise.reject(new Error(`upstream exited, see ${RUN}/upstream.log`)))]);
  log(`measuring ${rows.length - skipped.size} rows: warm ${WARM}, window ${N} requests, ${CONNECTIONS} connections, upstream ${UPSTREAM}, pin=${PIN}`);

  const results = new Map();
  for (const row of rows) {
    if (skipped.has(row.name)) continue;
    for (let attempt = 1; attempt <= ATTEMPTS && !results.has(row.name); attempt++) {
      try {
        results.set(row.name, await measure(row, ports, upstreamUrl));
        skipped.delete(row.name);
      } catch (e) {
        skipped.set(row.name, e.message);
        log(`${row.name}: attempt ${attempt} of ${ATTEMPTS} failed: ${e.message}`);
      }
    }
  }
  await stop(upstream);

  const base = rows.find((r) => r.baseline && results.has(r.name));
  const ceil = ceiling && results.has(ceiling.name) ? ceiling : null;
  const knobs = [ONLY ? `ONLY='${env.ONLY}'` : '', `WARM=${WARM}`, `N=${N}`, `WINDOWS=${WINDOWS}`, CONNECTIONS !== 50 ? `CONNECTIONS=${CONNECTIONS}` : ''].filter(Boolean);
  const commit = version('git', ['-C', ROOT, 'describe', '--always', '--dirty']);
  const lines = [
    `instructions per request under callgrind: warm ${WARM} requests, then ${N} measured on the same ${CONNECTIONS} keep-alive connections; ` +
      `upstream ${UPSTREAM}; node ${process.version}; ${version('valgrind', ['--version'])}; commit ${commit}`,
    '',
    '| row | instructions/request (k) | optimizing compiler | major GC | vs node ceiling | vs bare proxy |',
    '|---|--:|--:|--:|--:|--:|',
  ];
  for (const row of rows) {
    const r = results.get(row.name);
    if (!r) {
      lines.push(`| ${row.name} | skipped: ${skipped.get(row.name)} | | | | |`);
      continue;
    }
    const ratio = (other) => (other ? (results.get(other.name).perRequest / r.perRequest).toFixed(2) : 'n/a');
    lines.push(`| ${row.name} | ${(r.perRequest / 1000).toFixed(1)} | ${(100 * r.compileShare).toFixed(1)}% | ${(100 * r.gcShare).toFixed(1)}% | ${ratio(ceil)} | ${ratio(base)} |`);
  }
  lines.push(
    '',
    "Ratios are predicted req/s ratios (the other row's instructions/request over this row's; higher is faster). " +
      'A major GC lands in a window or not: compare rows with similar major-GC shares, or raise N.',
  );
  for (const [name, r] of results) {
    if (r.compileShare > COMPILE_WARN) {
      lines.push(
        `**Not steady:** '${name}' spent ${(100 * r.compileShare).toFixed(1)}% of its last window (${r.window} of ${WINDOWS}) in V8's optimizing compiler (> ${100 * COMPILE_WARN}%); its count is inflated: raise WARM.`,
      );
    } else if (r.window > 1) lines.push(`'${name}': measured in window ${r.window} (the earlier ones were still compiling).`);
    if (r.newConnections) lines.push(`**Warning:** '${name}' opened ${r.newConnections} new connections during the window.`);
  }
  lines.push(
    '',
    'Reproduce:',
    '',
    '```sh',
    `${knobs.join(' ')} npm run bench:instructions`,
    ...rows.filter((r) => r.command).map((r) => `# ${r.name}: ${r.command}`),
    '```',
    '',
    `Profiles: ${RUN}/*.callgrind.<window> (callgrind_annotate; JIT code names in the matching .map)`,
  );
  const table = lines.join('\n');
  console.log('\n' + table);
  writeFileSync(join(RUN, 'table.md'), table + '\n');
  if (skipped.size) process.exitCode = 1;
}

main()
  .catch((e) => {
    console.error(e);
    process.exitCode = 1;
  })
  .finally(async () => {
    for (const c of [...children]) await stop(c);
    setTimeout(() => process.exit(), 200).unref();
  });
