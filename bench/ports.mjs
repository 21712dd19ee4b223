// Ports for the bench scripts (bench/run.mjs, bench/instructions.mjs). Fixed ports collide
// when two runs share the machine: a load generator that finds its server's port taken by
// another run's process loads that one instead (it happened: 2.3x the instruction count).
// So the OS picks free ones, and a run can check who else is connected, and waits until
// each process it started answers.
import { spawnSync } from 'node:child_process';
import { createServer } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';

/**
 * `count` distinct free ports on 127.0.0.1, picked by the OS. All are held open until the
 * last is picked, so none is handed out twice; they are free again when this resolves, and
 * the caller's processes bind them right after.
 *
 * @example
 *   const [upstreamPort, gatewayPort] = await freePorts(2);
 */
export async function freePorts(count) {
  const servers = [];
  try {
    for (let i = 0; i < count; i++) {
      const s = createServer();
      servers.push(s);
      await new Promise((res, rej) => {
        s.once('error', rej);
        s.listen(0, '127.0.0.1', res);
      });
    }
    return servers.map((s) => s.address().port);
  } finally {
    await Promise.all(servers.map((s) => new Promise((res) => s.close(() => res()))));
  }
}

/**
 * Peers connected to 127.0.0.1:port (`ss`), or null when ss is missing. A client that is
 * not the run's own in a measured window inflates the count.
 *
 * @example
 *   const ours = peersOf(port); // before the window; compare with peersOf(port) during it
 */
export function peersOf(port) {
  const r = spawnSync('ss', ['-Htn', 'state', 'established', `( sport = :${port} )`], { encoding: 'utf8', timeout: 10_000 });
  if (r.status !== 0) return null;
  return new Set(
    r.stdout
      .split('\n')
      .map((l) => l.trim().split(/\s+/).at(-1))
      .filter(Boolean),
  );
}

/**
 * Polls `url` until it answers below 500 (a server that is up, whatever its route says);
 * resolves with that status, throws after `timeoutMs`.
 *
 * @example
 *   await waitFor(`${upstreamUrl}/`);
 */
export async function waitFor(url, headers = {}, timeoutMs = 20_000) {
  const end = Date.now() + timeoutMs;
  while (Date.now() < end) {
    try {
      const r = await fetch(url, { headers });
      await r.arrayBuffer();
      if (r.status < 500) return r.status;
    } catch {}
    await sleep(100);
  }
  throw new Error(`${url} did not answer within ${timeoutMs / 1000} s`);
}
