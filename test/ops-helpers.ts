import { spawn, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { httpRequest, sleep } from './helpers.js';

export { freePort } from './helpers.js';

const CLI = fileURLToPath(new URL('../dist/cli.js', import.meta.url));


export interface GantryProcess {
  proc: ChildProcess;
  output(): string;
  /** Sends a signal to the gantry process (by its pid). */
  signal(sig: NodeJS.Signals): void;
  /** SIGTERM and wait for exit; resolves with the exit code. */
  stop(): Promise<number | null>;
}

/** Runs the built CLI (`node dist/cli.js …`) and waits until `readyUrl` answers 200. */
export async function spawnGantry(args: string[], readyUrl: string, env: NodeJS.ProcessEnv = {}): Promise<GantryProcess> {
  const proc = spawn(process.execPath, [CLI, ...args], { env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  proc.stdout!.on('data', (c: Buffer) => (out += c.toString()));
  proc.stderr!.on('data', (c: Buffer) => (out += c.toString()));
  const exited = new Promise<number | null>((r) => proc.once('exit', (code) => r(code)));
  const deadline = Date.now() + 15_000;
  for (;;) {
    if (proc.exitCode !== null) throw new Error(`gantry exited (${proc.exitCode}):\n${out}`);
    try {
      if ((await httpRequest(readyUrl)).status === 200) break;
    } catch {
      // not listening yet
    }
    if (Date.now() > deadline) {
      proc.kill('SIGKILL');
      throw new Error(`gantry did not become ready:\n${out}`);
    }
    await sleep(100);
  }
  return {
    proc,
    output: () => out,
    signal: (sig) => proc.kill(sig),
    stop: async () => {
      if (proc.exitCode === null) proc.kill('SIGTERM');
      const t = setTimeout(() => proc.kill('SIGKILL'), 10_000);
      const code = await exited;
      clearTimeout(t);
      return code;
    },
  };
}

/** Polls `fn` until it returns a value (not undefined) or `ms` pass. */
export async function eventually<T>(fn: () => Promise<T | undefined> | T | undefined, ms = 10_000, what = 'condition'): Promise<T> {
  const end = Date.now() + ms;
  for (;;) {
    const v = await fn();
    if (v !== undefined) return v;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await sleep(50);
  }
}
