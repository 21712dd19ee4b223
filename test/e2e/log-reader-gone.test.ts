import { spawn } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

const dist = join(dirname(fileURLToPath(import.meta.url)), '../../dist/observability');

/**
 * The process logger writes to stdout, a pipe here, whose reader exits (`gantry … | head`,
 * a log shipper that died). Writes then fail with EPIPE, after which pino makes the
 * destination's `write` a no-op: every line from then on is lost, and each must be counted
 * in `gantry_log_lines_dropped_total{output="stdout"}`. The child logs what the parent
 * asks for (commands on stdin) and reports on stderr.
 */
const CHILD = `
import { createInterface } from 'node:readline';
const { createLogger } = await import(process.env.DIST + '/logger.js');
const { metrics } = await import(process.env.DIST + '/metrics.js');
const logger = createLogger();
const stream = logger[Object.getOwnPropertySymbols(logger).find((s) => s.description === 'pino.stream')];
const counted = async () => Number(/gantry_log_lines_dropped_total\\{output="stdout"\\} (\\d+)/.exec(await metrics.text())?.[1] ?? 0);
const say = (o) => process.stderr.write(JSON.stringify(o) + '\\n');
for await (const cmd of createInterface({ input: process.stdin })) {
  const [what, n] = cmd.split(' ');
  if (what === 'log') {
    for (let i = 0; i < +n; i++) logger.info({ i }, 'a line to a reader that may be gone');
    await new Promise((r) => logger.flush(() => r()));
  }
  let ended;
  if (what === 'end') ended = await Promise.race([stream.end().then(() => true), new Promise((r) => setTimeout(() => r(false), 2000))]);
  say({ reply: what, counted: await counted(), dropped: stream.dropped, ended });
}
`;

describe('stdout whose reader went away', () => {
  it('counts every line lost after EPIPE, the failed write included, and still ends', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'gantry-epipe-'));
    const script = join(dir, 'child.mjs');
    writeFileSync(script, CHILD);
    // A real pipe (sh's `|`): the reader takes the first bytes, closes its end and says so.
    const reader = '(head -c 1 >/dev/null; exec 0<&-; echo \'{"reply":"gone"}\' >&2)';
    const child = spawn('sh', ['-c', `"${process.execPath}" "${script}" | ${reader}`], {
      env: { ...process.env, DIST: dist },
      stdio: ['pipe', 'ignore', 'pipe'],
    });
    type Msg = { reply: string; counted: number; dropped: number; ended?: boolean };
    const lines = createInterface({ input: child.stderr })[Symbol.asyncIterator]();
    const early: Msg[] = []; // the reader's line may come before or after the child's reply
    const next = async (reply: string): Promise<Msg> => {
      const seen = early.findIndex((m) => m.reply === reply);
      if (seen >= 0) return early.splice(seen, 1)[0]!;
      for (;;) {
        const { value, done } = await lines.next();
        if (done) throw new Error(`child ended before '${reply}'`);
        const msg = JSON.parse(value as string) as Msg;
        if (msg.reply === reply) return msg;
        early.push(msg);
      }
    };
    const ask = (cmd: string) => {
      child.stdin.write(`${cmd}\n`);
      return next(cmd.split(' ')[0]!);
    };
    try {
      const first = await ask('log 5'); // read by the reader, which then goes away
      expect(first).toMatchObject({ counted: 0, dropped: 0 });
      await next('gone'); // its end of the pipe is closed: no reader is left

      // One chunk (under 4 KB): its write fails with EPIPE, and those lines are lost.
      expect(await ask('log 20')).toMatchObject({ counted: 20, dropped: 20 });
      // Many chunks handed to a destination that no longer writes.
      expect(await ask('log 300')).toMatchObject({ counted: 320, dropped: 320 });
      expect(await ask('end')).toMatchObject({ ended: true, counted: 320 });
    } finally {
      child.stdin.end();
      child.kill();
    }
  });
});
