import { describe, expect, it } from 'vitest';
import { readFileSync } from 'node:fs';
import { sleep, spawnGateway, startUpstream } from '../helpers.js';

/** Times the process's main thread blocked of its own accord (each wait of the event loop is one). */
function voluntarySwitches(pid: number): number {
  const m = /voluntary_ctxt_switches:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/task/${pid}/status`, 'utf8'));
  if (m === null) throw new Error('no voluntary_ctxt_switches in /proc status');
  return Number(m[1]);
}

describe('an idle gateway', () => {
  // A count of wake-ups, not a timing: the event loop waits once per timer that fires. With
  // the event-loop delay histogram at perf_hooks' default 10 ms resolution the main thread
  // woke ~100 times a second doing nothing; sampled every 100 ms it is ~12 (the histogram,
  // the log clock's once-a-second tick).
  it('wakes its event loop fewer than 30 times a second', async () => {
    const up = await startUpstream((_req, res) => res.end('ok'));
    const gw = await spawnGateway(`version: 1
listeners: [ { name: public, port: 0, host: 127.0.0.1 } ]
admin: { port: 0, host: 127.0.0.1, token: idle-test-token }
upstreams: { app: { targets: [ "${up.url}" ] } }
routes: [ { name: all, match: { path: /* }, upstream: app } ]
`);
    try {
      await sleep(500); // start-up work (module loading, first GCs) is done
      const before = voluntarySwitches(gw.pid);
      await sleep(3000);
      const perSecond = (voluntarySwitches(gw.pid) - before) / 3;
      expect(perSecond).toBeLessThan(30);
    } finally {
      await gw.stop();
      await up.close();
    }
  });
});
