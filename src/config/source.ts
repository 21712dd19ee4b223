import { Buffer } from 'node:buffer';
import { closeSync, openSync, readSync, readdirSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';
import { isAlias, isMap, isScalar, isSeq, LineCounter, parseDocument, Scalar, type Alias, type Document, type Node, type YAMLMap } from 'yaml';
import { isDotlessTemplateVariable } from '../pipeline/template.js';

/**
 * Largest config text read, per file and for a whole folder. The YAML parser needs about
 * 150 bytes of memory and 1 µs per byte of text, so this keeps a load within about a second
 * and a few hundred MB; a config that large is generated, and can be split or trimmed.
 */
export const MAX_CONFIG_BYTES = 4 * 1024 * 1024;
/** Most values aliases (`*name`) may expand to in one file: a bound on alias bombs ("billion laughs"). */
export const MAX_ALIAS_VALUES = 100_000;
/** Deepest nesting of maps and lists a config may have (aliases included). */
export const MAX_DEPTH = 256;

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
  /** Display names of the files that hold no value at all (empty, or only comments and blank lines). */
  readonly empty: string[] = [];
  readonly #positions = new Map<string, Position>();
  #bytes = 0;
  readonly #env: NodeJS.ProcessEnv;
  readonly #cwd: string;

  constructor(env: NodeJS.ProcessEnv = process.env, cwd = process.cwd()) {
    this.#env = env;
    this.#cwd = cwd;
  }

  /**
   * Reads a file, or the config files of a folder in name order (`configFilesOf`), but for
   * those in `exclude` (absolute paths: files the config reads as something else).
   */
  static read(pathname: string, env: NodeJS.ProcessEnv = process.env, exclude: ReadonlySet<string> = new Set()): ConfigSource {
    const src = new ConfigSource(env);
    let files: string[];
    try {
      files = statSync(pathname).isDirectory() ? configFilesOf(pathname).filter((f) => !exclude.has(f)) : [pathname];
    } catch (e) {
      src.error(src.displayName(pathname), 0, '', `cannot read config: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`);
      return src;
    }
    if (files.length === 0) src.error(src.displayName(pathname), 0, '', 'no .yaml or .yml files in this folder');
    for (const f of files) {
      let text: string;
      try {
        text = readBounded(f);
      } catch (e) {
        if (e instanceof TooLarge) {
          src.error(src.displayName(f), 0, '', e.message);
          continue;
        }
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
    this.#bytes += Buffer.byteLength(text);
    if (this.#bytes > MAX_CONFIG_BYTES) {
      this.error(name, 0, '', tooLarge());
      return this;
    }
    const lc = new LineCounter();
    const doc = parseDocument(text, { lineCounter: lc, prettyErrors: false, uniqueKeys: true, merge: true });
    const lines = text.split('\n');
    for (const e of [...doc.errors, ...doc.warnings]) {
      const line = e.linePos?.[0]?.line ?? lc.linePos(e.pos[0]).line;
      let message = e.message.split('\n')[0]!;
      // The parser recurses per level of nesting and reports running out of stack as an error.
      if (/Maximum call stack/.test(message)) message = 'nested too deeply to parse';
      if (/multiple documents/.test(message)) message = "a config file holds one YAML document: remove this '---' (or split the documents into files of a config folder)";
      // `{ port: ${PORT} }` is a YAML error: braces are flow indicators. Say how to write it.
      if (/\$\{/.test(lines[line - 1] ?? '') && /[{[]/.test(lines[line - 1] ?? '')) {
        message += ' (hint: ${VAR} inside { } or [ ] must be quoted, "${VAR}", or written in block style)';
      }
      this.error(name, line, '', message, doc.errors.includes(e) ? 'error' : 'warning');
    }
    if (doc.errors.length > 0) return this;
    const walker = new Walker(doc, lc, name, this.#env, this);
    let root: unknown;
    try {
      root = walker.convert(doc.contents, []);
    } catch (e) {
      if (!(e instanceof WalkError)) throw e;
      this.error(name, e.line, displayPath(e.path), e.message);
      return this;
    }
    if (root === null || root === undefined) {
      this.empty.push(name);
      return this;
    }
    if (typeof root !== 'object' || Array.isArray(root)) {
      this.error(name, 1, '', 'the config must be a map of top-level keys (version, listeners, routes, …)');
      return this;
    }
    this.#merge(root as Record<string, unknown>, walker);
    return this;
  }

  #merge(root: Record<string, unknown>, walker: Walker): void {
    for (const [key, val] of Object.entries(root)) {
      // Own keys only: `this.value['__proto__']` would be Object.prototype.
      const existing = Object.hasOwn(this.value, key) ? this.value[key] : undefined;
      let offset: string | number | undefined;
      if (Array.isArray(existing) && Array.isArray(val)) {
        offset = existing.length;
        existing.push(...val);
      } else if (isPlainObject(existing) && isPlainObject(val)) {
        for (const [k, v] of Object.entries(val)) {
          if (Object.hasOwn(existing, k)) this.error(walker.file, walker.positions.get(`/${key}/${k}`)?.line ?? 0, `${key}.${k}`, `'${k}' is defined in more than one file`);
          setOwn(existing, k, v);
        }
      } else {
        if (Object.hasOwn(this.value, key) && key !== 'version') {
          this.error(walker.file, walker.positions.get(`/${key}`)?.line ?? 0, key, `'${key}' is defined in more than one file`);
        }
        setOwn(this.value, key, val);
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
    // The document itself: a key missing at the top level is reported at its first line.
    return this.files.length ? { file: this.displayName(this.files[0]!), line: 1 } : { file: 'config', line: 0 };
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
  /** Maps and lists being converted: an alias to one of them is a cycle. */
  readonly #open = new Set<Node>();
  readonly #resolved = new Map<Alias, Node | undefined>();
  /** Values converted through aliases so far (bounded by MAX_ALIAS_VALUES). */
  #aliasValues = 0;
  #inAlias = 0;
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
    if (path.length > MAX_DEPTH) throw new WalkError(here, path, `nested deeper than ${MAX_DEPTH} levels`);
    if (this.#inAlias > 0 && ++this.#aliasValues > MAX_ALIAS_VALUES) {
      throw new WalkError(here, path, `aliases expand to more than ${MAX_ALIAS_VALUES} values (an alias bomb?); write the values out`);
    }
    if (isAlias(node)) return this.alias(node, path, here);
    if (isMap(node) || isSeq(node)) {
      this.#open.add(node);
      try {
        return isMap(node) ? this.map(node, path, here) : node.items.map((item, i) => this.convert(item, [...path, i]));
      } finally {
        this.#open.delete(node);
      }
    }
    if (isScalar(node)) return this.scalar(node, path, here);
    return node === null || node === undefined ? null : node;
  }

  alias(node: Alias, path: (string | number)[], line: number): unknown {
    // Resolving walks the document: once per alias node, however often it is expanded.
    if (!this.#resolved.has(node)) this.#resolved.set(node, node.resolve(this.doc) as Node | undefined);
    const target = this.#resolved.get(node);
    if (target !== undefined && this.#open.has(target)) throw new WalkError(line, path, `alias *${node.source} refers to a value that contains it`);
    this.#inAlias++;
    try {
      return this.convert(target, path, line);
    } finally {
      this.#inAlias--;
    }
  }

  map(node: YAMLMap, path: (string | number)[], here: number): Record<string, unknown> {
    const out: Record<string, unknown> = {};
    for (const pair of node.items) {
      // With `merge: true` the parser gives a `<<` key the value Symbol('<<').
      const kv = isScalar(pair.key) ? pair.key.value : pair.key;
      const k = typeof kv === 'symbol' ? (kv.description ?? '') : String(kv);
      if (k === '<<') {
        const merged = this.convert(pair.value, path, here);
        for (const src of Array.isArray(merged) ? merged : [merged]) {
          if (isPlainObject(src)) for (const [mk, mv] of Object.entries(src)) if (!Object.hasOwn(out, mk)) setOwn(out, mk, mv);
        }
        continue;
      }
      setOwn(out, k, this.convert(pair.value, [...path, k], this.line(pair.key as Node)));
    }
    return out;
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
      const hint = isDotlessTemplateVariable(name)
        ? `; for the template variable write $\${${name}} (a config file reads \${${name}} as an environment variable)`
        : ` (use \${${name}:-default} for a default)`;
      this.source.error(this.file, line, displayPath(path), `environment variable ${name} is not set${hint}`);
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

/** A config value the walker cannot convert (alias cycle or bomb, nesting too deep). */
class WalkError extends Error {
  constructor(
    readonly line: number,
    readonly path: (string | number)[],
    message: string,
  ) {
    super(message);
  }
}

class TooLarge extends Error {}

const tooLarge = () => `the config is larger than ${MAX_CONFIG_BYTES / 1024 / 1024}mb; split it or trim it`;

/** Reads a file as UTF-8, at most MAX_CONFIG_BYTES of it (a device such as /dev/zero never ends). */
function readBounded(file: string): string {
  const fd = openSync(file, 'r');
  try {
    // In 64 KB reads, not one buffer of the whole bound: a config is a few KB, and freeing a
    // 4 MB allocation raises the C allocator's mmap threshold for the rest of the process,
    // which kept ~8 MB more resident (and the 200 MB streaming test's peak over 150 MB).
    const chunks: Buffer[] = [];
    let n = 0;
    for (;;) {
      const chunk = Buffer.allocUnsafe(Math.min(READ_CHUNK, MAX_CONFIG_BYTES + 1 - n));
      const r = readSync(fd, chunk, 0, chunk.length, null);
      if (r === 0) break;
      chunks.push(r === chunk.length ? chunk : chunk.subarray(0, r));
      n += r;
      if (n > MAX_CONFIG_BYTES) throw new TooLarge(tooLarge());
    }
    return Buffer.concat(chunks, n).toString('utf8');
  } finally {
    closeSync(fd);
  }
}

const READ_CHUNK = 64 * 1024;

/** `obj[key] = value`, also for `__proto__` (an own key, as JSON.parse makes it, never the prototype). */
function setOwn(obj: Record<string, unknown>, key: string, value: unknown): void {
  if (key === '__proto__') Object.defineProperty(obj, key, { value, enumerable: true, writable: true, configurable: true });
  else obj[key] = value;
}

function isPlainObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/**
 * The config files of a config folder, in name order: the `.yaml`/`.yml` files at its top
 * level. Hidden names are left out (editors' lock and swap files such as `.#gateway.yaml`,
 * a Kubernetes ConfigMap's `..data` entries), and so is what is not a file once symlinks are
 * followed (a ConfigMap mounts each key as a symlink to a file). Subfolders are never read
 * as config: they are where the files the config references (schemas, certificates) go.
 *
 * @example configFilesOf('/etc/gantry/conf.d') // ['/etc/gantry/conf.d/10-listeners.yaml', '/etc/gantry/conf.d/20-routes.yaml']
 */
export function configFilesOf(dir: string): string[] {
  return readdirSync(dir)
    .filter((f) => /\.ya?ml$/.test(f) && !f.startsWith('.'))
    .sort()
    .map((f) => join(dir, f))
    .filter((f) => {
      try {
        return statSync(f).isFile();
      } catch {
        return false; // a dangling symlink (an editor's lock file) or a file removed meanwhile
      }
    });
}
