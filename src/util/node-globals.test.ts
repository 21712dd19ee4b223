import { readdirSync, readFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

/**
 * In Node 20, `performance` and `Buffer` on `globalThis` are accessor properties: every
 * `performance.now()` written against the global calls a getter (and a global lookup that
 * V8 cannot turn into a constant), about 150 instructions per use on the data path
 * (callgrind). Modules import them from `node:perf_hooks` / `node:buffer` instead, which
 * reads a module binding.
 */
const SRC = fileURLToPath(new URL('..', import.meta.url));
const RULES = [
  { global: 'performance', use: /\bperformance\.\w/, imported: /import \{[^}]*\bperformance\b[^}]*\} from 'node:perf_hooks'/ },
  { global: 'Buffer', use: /\bBuffer\.\w/, imported: /import \{[^}]*\bBuffer\b[^}]*\} from 'node:buffer'/ },
];

function sources(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) => {
    const p = join(dir, e.name);
    if (e.isDirectory()) return sources(p);
    return e.name.endsWith('.ts') && !e.name.endsWith('.test.ts') && !e.name.endsWith('.d.ts') ? [p] : [];
  });
}

/** The code without comments and string contents, so that a mention in prose does not count as a use. */
function codeOf(text: string): string {
  return text
    .replace(/\/\*[\s\S]*?\*\//g, '')
    .replace(/\/\/.*$/gm, '')
    .replace(/'(?:[^'\\\n]|\\.)*'/g, "''")
    .replace(/`(?:[^`\\]|\\.)*`/g, '``');
}

describe('node globals with accessors', () => {
  it('finds the source tree', () => {
    expect(sources(SRC).length).toBeGreaterThan(50);
  });

  it.each(RULES)('every module that uses $global imports it from its node: module', ({ use, imported }) => {
    const offenders = sources(SRC).filter((f) => {
      const text = readFileSync(f, 'utf8');
      return use.test(codeOf(text)) && !imported.test(text);
    });
    expect(offenders.map((f) => relative(SRC, f))).toEqual([]);
  });
});
