import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

/**
 * The README, the pages under docs/ and the config schema's descriptions (which the
 * generated docs/config-schema.md and `gantry validate` show) point readers to other
 * pages. A renamed page or heading must not leave them pointing nowhere.
 */
const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const PAGES = ['README.md', ...readdirSync(join(ROOT, 'docs')).filter((f) => f.endsWith('.md')).map((f) => `docs/${f}`)];

function sources(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) => {
    const p = join(dir, e.name);
    if (e.isDirectory()) return sources(p);
    return e.name.endsWith('.ts') && !e.name.endsWith('.test.ts') ? [p] : [];
  });
}

/** GitHub's heading anchors: lower case, punctuation but `-` and `_` dropped, spaces to `-`. */
function slug(heading: string): string {
  return heading
    .trim()
    .toLowerCase()
    .replace(/[^\p{L}\p{N}\s_-]/gu, '')
    .replace(/\s/g, '-');
}

function anchorsOf(file: string): Set<string> {
  const text = readFileSync(file, 'utf8').replace(/```[\s\S]*?```/g, '');
  const seen = new Map<string, number>();
  const out = new Set<string>();
  for (const m of text.matchAll(/^#{1,6}\s+(.+)$/gm)) {
    const base = slug(m[1]!);
    const n = seen.get(base) ?? 0;
    seen.set(base, n + 1);
    out.add(n === 0 ? base : `${base}-${n}`);
  }
  return out;
}

/** Every broken `page.md` or `page.md#anchor` reference, as "where → target". */
function broken(from: string, targets: Iterable<string>): string[] {
  const bad: string[] = [];
  for (const t of targets) {
    const [path, anchor] = t.split('#') as [string, string | undefined];
    const file = path === '' ? from : resolve(dirname(from), path);
    if (!existsSync(file)) bad.push(`${relative(ROOT, from)} → ${t}`);
    else if (anchor !== undefined && file.endsWith('.md') && !anchorsOf(file).has(anchor)) bad.push(`${relative(ROOT, from)} → ${t} (no such heading)`);
  }
  return bad;
}

describe('documentation links', () => {
  it('finds the pages', () => {
    expect(PAGES.length).toBeGreaterThan(5);
  });

  it('relative links in the README and docs/ reach an existing page and heading', () => {
    const bad = PAGES.flatMap((page) => {
      const file = join(ROOT, page);
      // Code blocks and inline code spans (a regular expression such as `[a-z]([a-z]*)`) hold no links.
      const text = readFileSync(file, 'utf8')
        .replace(/```[\s\S]*?```/g, '')
        .replace(/`[^`\n]*`/g, '');
      const links = [...text.matchAll(/\]\(([^)\s]+)\)/g)].map((m) => m[1]!).filter((l) => !/^[a-z]+:/i.test(l));
      return broken(file, links);
    });
    expect(bad).toEqual([]);
  });

  it('docs/ pages named in the source exist (schema descriptions, messages)', () => {
    const bad = sources(join(ROOT, 'src')).flatMap((f) => {
      const names = [...readFileSync(f, 'utf8').matchAll(/\bdocs\/([\w-]+\.md(?:#[\w-]+)?)/g)].map((m) => m[1]!);
      return broken(join(ROOT, 'docs', 'x.md'), names).map((b) => b.replace(/^docs\/x\.md/, relative(ROOT, f)));
    });
    expect(bad).toEqual([]);
  });
});
