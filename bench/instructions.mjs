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
// Its processes listen on ports the OS picks (bench/ports.mjs), and a window with a connection
// that is not the run's own is measured again. Parts: bench/instructions/ (settings, processes,
// callgrind, report).
//
//   WARM=40000 N=4000 CONNECTIONS=50 ONLY='regex' ROW_TIMEOUT=900 ATTEMPTS=2 WINDOWS=3 UPSTREAM=nginx|node PIN=1 npm run bench:instructions
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { Pool } from 'undici';
import { ROWS } from './rows.mjs';
import { ceilingScript, writeNginxUpstream } from './upstream-nginx.mjs';
import { freePorts, peersOf, waitFor } from './ports.mjs';
import { annotate, callgrindControl, dumped, requireValgrind, tidy } from './instructions/callgrind.mjs';
import { children, start, stop } from './instructions/processes.mjs';
import { report } from './instructions/report.mjs';
import { ATTEMPTS, COMPILE_STEADY, CONNECTIONS, DEFAULT_ROWS, HERE, LOAD_CPU, N, ONLY, PIN, ROOT, ROW_TIMEOUT, RUN, UPSTREAM, WARM, WINDOWS, log } from './instructions/settings.mjs';

// This process is the load generator: it shares LOAD_CPUS with the upstream, as in bench/run.mjs.
if (PIN) spawnSync('taskset', ['-a', '-p', '-c', LOAD_CPU, String(process.pid)], { stdio: 'ignore' });


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

async function main() {
  requireValgrind();
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

  const [ceilingPort, gatewayPort, upstreamPort] = await freePorts(3);
  const ports = { ceiling: ceilingPort, gateway: gatewayPort };
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

  const table = report(rows, results, skipped, ceiling);
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
