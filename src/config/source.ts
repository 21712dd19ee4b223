import { readFileSync, readdirSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';
import { isAlias, isMap, isScalar, isSeq, LineCounter, parseDocument, Scalar, type Document, type Node } from 'yaml';

/** Where a config value was written. */
export interface Position {
  file: string;
  line: number;
}

/** A config error as operators read it: `gateway.yaml:42 routes[3].limit: must be > 0`. */
export interface ConfigIssue {
  file: string;
  line: number;
  /** Display path, e.g. `routes[3].policies[0].rate-limit.limit`. */
  path: string;
  message: string;
  severity: 'error' | 'warning';
}

export function formatIssue(i: ConfigIssue): string {
  const where = i.line > 0 ? `${i.file}:${i.line}` : i.file;
  return `${where}${i.path ? ` ${i.path}` : ''}: ${i.severity === 'warning' ? 'warning: ' : ''}${i.message}`;
}

/** `['routes', 3, 'match']` → `routes[3].match`. */
export function displayPath(path: readonly (string | number)[]): string {
  let s = '';
  for (const seg of path) s += typeof seg === 'number' ? `[${seg}]` : s === '' ? seg : `.${seg}`;
  return s;
}

/**
 * The raw config as a plain value plus the position of every node in it, keyed by the
 * JSON-pointer-like path of the merged value. Files of a folder are merged in name order:
 * lists are concatenated, maps merged key by key.
 */
export class ConfigSource {
  readonly value: Record<string, unknown> = {};
  readonly issues: ConfigIssue[] = [];
  readonly files: string[] = [];
  /** The text of each file in `files`, as parsed (the exact bytes a reload in cluster mode sends the workers). */
  readonly texts: string[] = [];
  readonly #positions = new Map<string, Position>();
  readonly #env: NodeJS.ProcessEnv;
  readonly #cwd: string;

  constructor(env: NodeJS.ProcessEnv = process.env, cwd = process.cwd()) {
    this.#env = env;
    this.#cwd = cwd;
  }

  /** Reads a file, or every `.yaml`/`.yml` file of a folder in name order. */
  static read(pathname: string, env: NodeJS.ProcessEnv = process.env): ConfigSource {
    const src = new ConfigSource(env);
    let files: string[];
    try {
      files = statSync(pathname).isDirectory()
        ? readdirSync(pathname)
            .filter((f) => /\.ya?ml$/.test(f))
            .sort()
            .map((f) => join(pathname, f))
        : [pathname];
    } catch (e) {
      src.error(src.displayName(pathname), 0, '', `cannot read config: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`);
      return src;
    }
    if (files.length === 0) src.error(src.displayName(pathname), 0, '', 'no .yaml or .yml files in this folder');
    for (const f of files) {
      let text: string;
      try {
        text = readFileSync(f, 'utf8');
      } catch (e) {
        src.error(src.displayName(f), 0, '', `cannot read config: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`);
        continue;
      }
      src.addText(text, f);
    }
    return src;
  }

  /** Parses YAML text as if it were the file `file`, merging it into the value. */
  addText(text: string, file = 'gateway.yaml'): this {
    const name = this.displayName(file);
    this.files.push(file);
    this.texts.push(text);
    const lc = new LineCounter();
    const doc = parseDocument(text, { lineCounter: lc, prettyErrors: false, uniqueKeys: true, merge: true });
    const lines = text.split('\n');
    for (const e of [...doc.errors, ...doc.warnings]) {
      const line = e.linePos?.[0]?.line ?? lc.linePos(e.pos[0]).line;
      let message = e.message.split('\n')[0]!;
      // `{ port: ${PORT} }` is a YAML error: braces are flow indicators. Say how to write it.
      if (/\$\{/.test(lines[line - 1] ?? '') && /[{[]/.test(lines[line - 1] ?? '')) {
        message += ' (hint: ${VAR} inside { } or [ ] must be quoted, "${VAR}", or written in block style)';
      }
      this.error(name, line, '', message, doc.errors.includes(e) ? 'error' : 'warning');
    }
    if (doc.errors.length > 0) return this;
    const walker = new Walker(doc, lc, name, this.#env, this);
    const root = walker.convert(doc.contents, []);
    if (root === null || root === undefined) return this;
    if (typeof root !== 'object' || Array.isArray(root)) {
      this.error(name, 1, '', 'the config must be a map of top-level keys (version, listeners, routes, …)');
      return this;
    }
    this.#merge(root as Record<string, unknown>, walker);
    return this;
  }

  #merge(root: Record<string, unknown>, walker: Walker): void {
    for (const [key, val] of Object.entries(root)) {
      const existing = this.value[key];
      let offset: string | number | undefined;
      if (Array.isArray(existing) && Array.isArray(val)) {
        offset = existing.length;
        existing.push(...val);
      } else if (isPlainObject(existing) && isPlainObject(val)) {
        for (const [k, v] of Object.entries(val)) {
          if (k in existing) this.error(walker.file, walker.positions.get(`/${key}/${k}`)?.line ?? 0, `${key}.${k}`, `'${k}' is defined in more than one file`);
          existing[k] = v;
        }
      } else {
        if (key in this.value && key !== 'version') {
          this.error(walker.file, walker.positions.get(`/${key}`)?.line ?? 0, key, `'${key}' is defined in more than one file`);
        }
        this.value[key] = val;
      }
      for (const [p, pos] of walker.positions) {
        if (p === `/${key}`) {
          if (!this.#positions.has(p)) this.#positions.set(p, pos);
        } else if (p.startsWith(`/${key}/`)) {
          this.#positions.set(typeof offset === 'number' ? shiftIndex(p, key.length + 2, offset) : p, pos);
        }
      }
    }
  }

  /** Position of the nearest written ancestor of a path (defaults have no line of their own). */
  positionOf(path: readonly (string | number)[]): Position {
    for (let n = path.length; n >= 0; n--) {
      const pos = this.#positions.get(path.slice(0, n).map((s) => `/${s}`).join(''));
      if (pos) return pos;
    }
    return { file: this.files.length ? this.displayName(this.files[0]!) : 'config', line: 0 };
  }

  /** Records an issue at a config path. */
  issueAt(path: readonly (string | number)[], message: string, severity: 'error' | 'warning' = 'error'): void {
    const pos = this.positionOf(path);
    this.issues.push({ file: pos.file, line: pos.line, path: displayPath(path), message, severity });
  }

  error(file: string, line: number, path: string, message: string, severity: 'error' | 'warning' = 'error'): void {
    this.issues.push({ file, line, path, message, severity });
  }

  get errors(): ConfigIssue[] {
    return this.issues.filter((i) => i.severity === 'error');
  }

  displayName(file: string): string {
    const rel = relative(this.#cwd, file);
    return rel && !rel.startsWith('..') ? rel : file;
  }
}

const INTERPOLATION = /\$\$\{|\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}/g;
const WHOLE = /^\$\{[A-Za-z_][A-Za-z0-9_]*(?::-[^}]*)?\}$/;

/** Converts YAML nodes to plain values, recording positions and interpolating `${ENV}`. */
class Walker {
  readonly positions = new Map<string, Position>();
  constructor(
    readonly doc: Document,
    readonly lc: LineCounter,
    readonly file: string,
    readonly env: NodeJS.ProcessEnv,
    readonly source: ConfigSource,
  ) {}

  line(node: { range?: [number, number, number] | null } | null | undefined): number {
    return node?.range ? this.lc.linePos(node.range[0]).line : 0;
  }

  convert(node: unknown, path: (string | number)[], keyLine?: number): unknown {
    const key = path.map((s) => `/${s}`).join('');
    const here = keyLine ?? this.line(node as Node);
    if (here > 0) this.positions.set(key, { file: this.file, line: here });
    if (isAlias(node)) return this.convert(node.resolve(this.doc), path, here);
    if (isMap(node)) {
      const out: Record<string, unknown> = {};
      for (const pair of node.items) {
        const k = isScalar(pair.key) ? String(pair.key.value) : String(pair.key);
        if (k === '<<') {
          const merged = this.convert(pair.value, path, here);
          for (const src of Array.isArray(merged) ? merged : [merged]) {
            if (isPlainObject(src)) for (const [mk, mv] of Object.entries(src)) if (!(mk in out)) out[mk] = mv;
          }
          continue;
        }
        out[k] = this.convert(pair.value, [...path, k], this.line(pair.key as Node));
      }
      return out;
    }
    if (isSeq(node)) return node.items.map((item, i) => this.convert(item, [...path, i]));
    if (isScalar(node)) return this.scalar(node, path, here);
    return node === null || node === undefined ? null : node;
  }

  scalar(node: Scalar, path: (string | number)[], line: number): unknown {
    const v = node.value;
    if (typeof v !== 'string' || !v.includes('${')) return v;
    const missing: string[] = [];
    const out = v.replace(INTERPOLATION, (m, name: string | undefined, def: string | undefined) => {
      if (m === '$${') return '${';
      const val = this.env[name!];
      if (val !== undefined && val !== '') return val;
      if (def !== undefined) return def;
      missing.push(name!);
      return '';
    });
    for (const name of missing) {
      this.source.error(this.file, line, displayPath(path), `environment variable ${name} is not set (use \${${name}:-default} for a default)`);
    }
    // A plain scalar that is one whole `${VAR}` takes the type its value reads as: `port: ${PORT}` is a number.
    if (node.type === Scalar.PLAIN && WHOLE.test(v)) {
      const typed = parseDocument(out).contents;
      if (isScalar(typed) && typed.value !== null) return typed.value;
    }
    return out;
  }
}

/** `/routes/2/match` shifted by 3 → `/routes/5/match` (the index starts at `at`). */
function shiftIndex(p: string, at: number, offset: number): string {
  const slash = p.indexOf('/', at);
  const idx = Number(slash < 0 ? p.slice(at) : p.slice(at, slash));
  return p.slice(0, at) + String(idx + offset) + (slash < 0 ? '' : p.slice(slash));
}

function isPlainObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}
