// The callgrind side of bench:instructions: the tools it needs, switching instrumentation of
// a running process, reading a dump back with callgrind_annotate, tidying after a row.
import { spawn, spawnSync } from 'node:child_process';
import { copyFileSync, existsSync, readFileSync, rmSync, statSync, truncateSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { children } from './processes.mjs';
import { RUN, has } from './settings.mjs';

const MAJOR_GC = /ConcurrentMarking|MarkingVisitor|MarkCompact|IncrementalMarking|Sweeper|MarkingBarrier|MarkingWorklist/;

/** Exits with an install hint when valgrind's tools are not on PATH. */
export function requireValgrind() {
  for (const bin of ['valgrind', 'callgrind_control', 'callgrind_annotate']) {
    if (!has(bin)) {
      console.error(`${bin} is not on PATH. Install valgrind (it ships callgrind_control and callgrind_annotate):\n  apt-get install -y valgrind`);
      process.exit(1);
    }
  }
}

/**
 * Runs callgrind_control (`-i on|off PID`, `-d PID`); throws with its output when it fails.
 *
 * @example
 *   callgrindControl(['-i', 'on', String(pid)]);
 */
export function callgrindControl(args) {
  const r = spawnSync('callgrind_control', args, { encoding: 'utf8', timeout: 60_000 });
  if (r.status !== 0) throw new Error(`callgrind_control ${args.join(' ')} failed: ${r.error?.message ?? ''}${r.stderr}${r.stdout}`);
}

/**
 * Program total, the optimizing compiler's self cost and the major GC's (mark-compact: marking,
 * sweeping, compaction; scavenges are a steady per-request cost and are not counted), from
 * callgrind_annotate. Asynchronous: the row's connections are kept busy meanwhile.
 *
 * @example
 *   const { total, compile, majorGc } = await annotate(await dumped(file));
 */
export function annotate(file) {
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

/** The dump callgrind_control -d asked for, once complete (its last line is `totals:`). */
export async function dumped(file) {
  for (let i = 0; i < 120; i++) {
    if (existsSync(file) && /\ntotals: \d+\s*$/.test(readFileSync(file, 'utf8').slice(-200))) return file;
    await sleep(250);
  }
  throw new Error(`${file} was not written`);
}

/** After a row's process exited: its perf map beside the profile, the empty exit dump gone, the log trimmed. */
export function tidy(slug, pid) {
  const map = `/tmp/perf-${pid}.map`; // --perf-basic-prof: names of JIT code addresses
  if (existsSync(map)) {
    copyFileSync(map, join(RUN, `${slug}.map`));
    rmSync(map, { force: true });
  }
  rmSync(join(RUN, `${slug}.callgrind`), { force: true }); // written at exit, instrumentation off: empty
  const logFile = join(RUN, `${slug}.log`); // keeps the first 256 KB (startup, first errors): access logs grow large
  if (existsSync(logFile) && statSync(logFile).size > 256 * 1024) truncateSync(logFile, 256 * 1024);
}
