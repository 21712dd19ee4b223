import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { freePort, httpRequest, type SimpleResponse } from './helpers.js';

/** Helpers for limit tests: bursts of concurrent requests and counting what came back. */

/** Fires `n` requests at once (fresh connections), round-robin over `urls`; resolves all responses. */
export function burst(urls: string | string[], n: number, headers?: Record<string, string>): Promise<SimpleResponse[]> {
  const list = Array.isArray(urls) ? urls : [urls];
  return Promise.all(Array.from({ length: n }, (_, i) => httpRequest(list[i % list.length]!, headers ? { headers } : {})));
}

/** How many responses had each status. */
export function statusCounts(responses: SimpleResponse[]): Record<number, number> {
  const out: Record<number, number> = {};
  for (const r of responses) out[r.status] = (out[r.status] ?? 0) + 1;
  return out;
}

/** Waits until at least `marginMs` remain before the next multiple of `windowMs` (epoch-aligned windows). */
export async function awayFromBoundary(windowMs: number, marginMs: number): Promise<void> {
  const left = windowMs - (Date.now() % windowMs);
  if (left < marginMs) await new Promise((r) => setTimeout(r, left + 20));
}

export interface GatewayProcess {
  url: string;
  port: number;
  pid: number;
  stop(): Promise<void>;
}


/**
 * Starts `node dist/cli.js start --config FILE` (npm test builds dist first) with `PORT`
 * set to a free port (the config says `port: ${PORT}`), and resolves once `/healthz`
 * answers there.
 */
export async function startGatewayProcess(configFile: string, env: NodeJS.ProcessEnv = {}): Promise<GatewayProcess> {
  const port = await freePort();
  const child = spawn(process.execPath, ['dist/cli.js', 'start', '--config', configFile], {
    cwd: fileURLToPath(new URL('..', import.meta.url)),
    env: { ...process.env, ...env, PORT: String(port) },
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  let stderr = '';
  child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
  const url = `http://127.0.0.1:${port}`;
  const deadline = Date.now() + 15_000;
  for (;;) {
    if (child.exitCode !== null) throw new Error(`gateway exited with ${child.exitCode}: ${stderr}`);
    try {
      if ((await httpRequest(`${url}/healthz`)).status === 200) break;
    } catch {
      // not listening yet
    }
    if (Date.now() > deadline) {
      child.kill('SIGKILL');
      throw new Error(`gateway did not answer on ${url} within 15 s: ${stderr}`);
    }
    await new Promise((r) => setTimeout(r, 50));
  }
  return {
    url,
    port,
    pid: child.pid!,
    stop: () =>
      new Promise<void>((resolve) => {
        if (child.exitCode !== null || child.signalCode !== null) return resolve();
        child.once('exit', () => resolve());
        child.kill('SIGTERM');
      }),
  };
}
