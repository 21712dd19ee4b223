import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, statSync, truncateSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { eventually } from '../helpers.js';

const dist = join(dirname(fileURLToPath(import.meta.url)), '../../dist/observability/logger.js');

/**
 * A log writer in a child process whose file size is capped (`ulimit -f`): writes past the
 * cap fail with EFBIG, as writes fail on a full disk, and the cap stops mattering once the
 * file is truncated (what `logrotate`'s copytruncate does). The child writes what the
 * parent asks for, line by line on stdin, and reports on stdout.
 */
const CHILD = `
import { openSync } from 'node:fs';
import { createInterface } from 'node:readline';
const { bufferedDestination } = await import(process.env.LOGGER);
const dest = bufferedDestination(openSync(process.env.FILE, 'a'), 'capped-file', 32 * 1024);
let errors = 0;
dest.onError(() => errors++);
const say = (o) => process.stdout.write(JSON.stringify(o) + '\\n');
for await (const cmd of createInterface({ input: process.stdin })) {
  const [what, from, to] = cmd.split(' ');
  if (what === 'write') for (let i = +from; i < +to; i++) dest.write(\`line \${String(i).padStart(5, '0')} \${'x'.repeat(88)}\\n\`);
  if (what === 'flush') await new Promise((r) => dest.flush(() => r()));
  if (what === 'wait') await new Promise((r) => setTimeout(r, +from));
  say({ errors, dropped: dest.dropped });
  if (what === 'exit') process.exit(0);
}
`;

describe('a log file that cannot take more lines', () => {
  it('keeps a bounded amount, drops and counts the rest, and resumes once writes succeed again', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'gantry-full-'));
    const file = join(dir, 'access.log');
    const script = join(dir, 'child.mjs');
    writeFileSync(script, CHILD);
    // 128 blocks of 512 bytes: the file may grow to 64 KB.
    const child = spawn('sh', ['-c', `ulimit -f 128 && exec "${process.execPath}" "${script}"`], {
      env: { ...process.env, LOGGER: dist, FILE: file },
      stdio: ['pipe', 'pipe', 'inherit'],
    });
    const replies = createInterface({ input: child.stdout })[Symbol.asyncIterator]();
    const ask = async (cmd: string) => {
      child.stdin.write(`${cmd}\n`);
      const { value } = await replies.next();
      return JSON.parse(value as string) as { errors: number; dropped: number };
    };
    try {
      // 2000 lines of 100 bytes (200 KB) into a 64 KB file with a 32 KB bound.
      await ask('write 0 2000');
      const full = await ask('flush'); // nothing left gathered: only the held chunks wait
      expect(full.errors).toBeGreaterThan(0);
      expect(statSync(file).size).toBe(64 * 1024);
      // What was neither written (64 KB) nor held (at most 32 KB) is dropped and counted.
      expect(full.dropped).toBeGreaterThan(2000 - 655 - 330);
      expect(full.dropped).toBeLessThan(2000 - 655);

      truncateSync(file, 0); // room again
      await ask('wait 1200'); // the once-a-second retry writes the held lines
      // More than the room left under the bound: without that retry it would be dropped.
      await ask('write 5000 5200');
      const after = await ask('flush');
      expect(after.dropped).toBe(full.dropped);
      const text = await eventually(() => {
        const t = readFileSync(file, 'utf8');
        return t.endsWith(`line 05199 ${'x'.repeat(88)}\n`) ? t : undefined;
      }, 5000, 'the lines written after the file had room again');
      const lines = text.split('\n').slice(0, -1);
      const numbers = lines.map((l) => /^line (\d{5}) x{88}$/.exec(l)?.[1]).map(Number);
      // The held lines come first, then the new ones. The first is the rest of line 655, cut
      // at the cap (64 KB is 655 lines and 36 bytes). Held chunks keep their order; a chunk
      // that did not fit under the bound was dropped whole, so a later, smaller one may follow.
      expect(lines[0]).toBe(`line 00655 ${'x'.repeat(88)}`.slice(36));
      expect(numbers.slice(-200)).toEqual(Array.from({ length: 200 }, (_, i) => 5000 + i));
      const held = numbers.slice(1, -200);
      expect(held.length).toBeGreaterThan(100);
      expect(held.every((n, i) => n > 655 && n < 2000 && (i === 0 || n > held[i - 1]!))).toBe(true);
      // Every line is accounted for: written before the cap, held and written later, or dropped and counted.
      expect(656 + held.length + full.dropped).toBe(2000);
      await ask('exit');
    } finally {
      child.kill();
    }
  });
});
