// The processes bench:instructions starts (upstream, the measured process, callgrind_annotate):
// each leads its own process group, and whatever is left is killed when the runner exits.
import { spawn } from 'node:child_process';
import { closeSync, openSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { LOAD_CPU, PIN, PROXY_CPU, ROOT, RUN, env, log } from './settings.mjs';

/** The children still running. */
export const children = new Set();

/**
 * Spawns a process in its own group, output to RUN/<name>.log (a pipe would make this runner
 * read every log line); `child.exited` resolves with its exit code.
 *
 * @example
 *   const child = start('upstream', ['nginx', '-c', conf]);  await stop(child);
 */
export function start(name, argv, extraEnv) {
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
export async function stop(child) {
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
