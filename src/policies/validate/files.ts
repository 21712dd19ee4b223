import { readFileSync } from 'node:fs';
import { relative, sep } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { LineCounter, parseDocument } from 'yaml';

/** A schema document read from a file, under the `file:` URL Ajv knows it by (its `$id`). */
export interface SchemaFile {
  url: string;
  /** The path as messages show it: relative to the config's folder. */
  shown: string;
  /** The document as Ajv gets it: `$id` set to `url`; an OpenAPI document cut to its schemas. */
  doc: Record<string, unknown> | boolean;
  /** An OpenAPI (or Swagger) document: its schemas may use OpenAPI's annotation keywords. */
  openapi: boolean;
  /** The JSON Schema dialect the file declares (see `declaredDialect`); undefined: none, it takes its entry's. */
  dialect: Dialect | undefined;
  /** The absolute references made to this file (`file:///…/order.json#/definitions/item`). */
  targets: Set<string>;
}

/**
 * The JSON Schema dialects `validate` compiles: draft-07 (the default; OpenAPI 3.0 and
 * Swagger 2 schemas are its relatives) and 2020-12 (OpenAPI 3.1 schemas, OAS 3.1 §4.8.24).
 */
export type Dialect = 'draft-07' | '2020-12';

/** `$schema` values naming a dialect (with or without `#`, http or https). */
const DIALECTS: { pattern: RegExp; dialect: Dialect }[] = [
  { pattern: /^https?:\/\/json-schema\.org\/draft-0[4-7]\/schema#?$/, dialect: 'draft-07' },
  { pattern: /^https?:\/\/json-schema\.org\/draft\/2020-12\/schema#?$/, dialect: '2020-12' },
];

/**
 * The dialect a schema document declares: an OpenAPI 3.1 (or later 3.x) document is 2020-12,
 * OpenAPI 3.0 and Swagger 2 draft-07; else its `$schema`. Undefined when it declares none.
 * Throws `SchemaFileError` for a `$schema` naming another dialect (`shown` names the document).
 *
 * @example declaredDialect({ openapi: '3.1.0' }, 'openapi.yaml') // '2020-12'
 */
export function declaredDialect(doc: unknown, shown: string): Dialect | undefined {
  if (typeof doc !== 'object' || doc === null || Array.isArray(doc)) return undefined;
  const d = doc as Record<string, unknown>;
  if (typeof d.openapi === 'string') return /^3\.0(\.|$)/.test(d.openapi) ? 'draft-07' : '2020-12';
  if (typeof d.swagger === 'string') return 'draft-07';
  if (d.$schema === undefined) return undefined;
  const found = typeof d.$schema === 'string' ? DIALECTS.find((x) => x.pattern.test(d.$schema as string)) : undefined;
  if (found === undefined) throw new SchemaFileError(`${shown}: $schema ${JSON.stringify(d.$schema)} is not a supported dialect (JSON Schema draft-07 or 2020-12)`);
  return found.dialect;
}

/** Every schema file one `validate` entry uses, in the order they were first referenced. */
export type SchemaFiles = Map<string, SchemaFile>;

/** A schema file that cannot be used: missing, not JSON/YAML, a `$ref` to nothing. */
export class SchemaFileError extends Error {}

/** Largest schema file read (a schema, or an OpenAPI document holding schemas). */
const MAX_SCHEMA_FILE_BYTES = 4 * 1024 * 1024;

/** Keys whose values are data, not schemas: a `$ref` member in there is not a reference. */
const DATA_KEYS = new Set(['enum', 'const', 'default', 'examples', 'example']);

/**
 * Resolves the file references of one inline schema: every `$ref` that is not a bare
 * fragment (`#/definitions/x`) names a file relative to `baseDir` (the config's folder):
 * `./schemas/order.json`, `common.yaml#/$defs/money`, `openapi.yaml#/components/schemas/Order`.
 * The files are read (JSON, or YAML for any other extension), and so are the files they
 * reference in turn, relative to themselves; `files` collects them. Returns the schema with
 * its file references made absolute (`file:` URLs, the ids the files are added to Ajv under);
 * the same object when it has none. Throws `SchemaFileError` for a file that cannot be read
 * or parsed, and for a JSON Pointer fragment that points at nothing in its file.
 *
 * Hand-written: Ajv resolves `$ref`s only among schemas it was given (`addSchema`), and
 * its `loadSchema` hook is asynchronous (`compileAsync`), while load-time checks here are
 * synchronous; reading the files up front also keeps every file read out of requests.
 *
 * @example
 *   const files: SchemaFiles = new Map();
 *   const body = resolveSchemaFiles({ $ref: './schemas/order.json' }, '/etc/gantry', files);
 *   // body.$ref === 'file:///etc/gantry/schemas/order.json'; files holds order.json and what it references
 */
export function resolveSchemaFiles(schema: unknown, baseDir: string, files: SchemaFiles): unknown {
  const base = pathToFileURL(baseDir.endsWith(sep) ? baseDir : baseDir + sep).href;
  const pending: SchemaFile[] = [];
  const out = rewrite(schema, base, baseDir, files, pending, undefined);
  // Breadth-first over the files found, so a cycle of references (a.json ↔ b.json) ends.
  for (let i = 0; i < pending.length; i++) {
    const f = pending[i]!;
    rewrite(f.doc, f.url, baseDir, files, pending, f);
  }
  // Fragments are checked once every file is read: a reference may point into a file read later.
  checkFragments(schema, base, files, undefined);
  for (const f of pending) checkFragments(f.doc, f.url, files, f);
  return out;
}

/** `node` with external `$ref`s absolute (a copy of the objects on their way; `within` given: in place). */
function rewrite(node: unknown, base: string, baseDir: string, files: SchemaFiles, pending: SchemaFile[], within: SchemaFile | undefined): unknown {
  if (typeof node !== 'object' || node === null) return node;
  if (Array.isArray(node)) {
    let copy: unknown[] | undefined;
    node.forEach((v, i) => {
      const r = rewrite(v, base, baseDir, files, pending, within);
      if (r !== v) (copy ??= [...node])[i] = r;
    });
    return copy ?? node;
  }
  const obj = node as Record<string, unknown>;
  let copy: Record<string, unknown> | undefined;
  for (const [k, v] of Object.entries(obj)) {
    if (DATA_KEYS.has(k)) continue;
    let r: unknown;
    if (k === '$ref' && typeof v === 'string' && !v.startsWith('#')) r = reference(v, base, baseDir, files, pending, within);
    else r = rewrite(v, base, baseDir, files, pending, within);
    if (r !== v) {
      if (within !== undefined) obj[k] = r;
      else (copy ??= { ...obj })[k] = r;
    }
  }
  return copy ?? obj;
}

/** The absolute form of one file reference; reads the file the first time it is named. */
function reference(ref: string, base: string, baseDir: string, files: SchemaFiles, pending: SchemaFile[], within: SchemaFile | undefined): string {
  const from = within === undefined ? '' : ` (referenced from ${within.shown})`;
  let url: URL;
  try {
    url = new URL(ref, base);
  } catch {
    throw new SchemaFileError(`$ref "${ref}"${from} is not a valid reference`);
  }
  if (url.protocol !== 'file:') throw new SchemaFileError(`$ref "${ref}"${from}: only files are loaded (a path relative to the config), not ${url.protocol} URLs`);
  const fragment = url.hash;
  url.hash = '';
  const key = url.href;
  if (!files.has(key)) {
    const file = readSchemaFile(key, baseDir, from);
    files.set(key, file);
    pending.push(file);
  }
  files.get(key)!.targets.add(key + fragment);
  return key + fragment;
}

function readSchemaFile(url: string, baseDir: string, from: string): SchemaFile {
  const path = fileURLToPath(url);
  const shown = relative(baseDir, path) || path;
  let text: string;
  try {
    const buf = readFileSync(path);
    if (buf.length > MAX_SCHEMA_FILE_BYTES) throw new SchemaFileError(`schema file ${shown}${from} is larger than 4 MiB`);
    text = buf.toString('utf8');
  } catch (e) {
    if (e instanceof SchemaFileError) throw e;
    throw new SchemaFileError(`cannot read schema file ${shown}${from}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`);
  }
  const value = path.endsWith('.json') ? parseJson(text, shown, from) : parseYaml(text, shown, from);
  if (typeof value === 'boolean') return { url, shown, doc: value, openapi: false, dialect: undefined, targets: new Set() };
  if (typeof value !== 'object' || value === null || Array.isArray(value)) throw new SchemaFileError(`schema file ${shown} does not hold a JSON Schema (an object or a boolean)`);
  const v = value as Record<string, unknown>;
  const openapi = typeof v.openapi === 'string' || typeof v.swagger === 'string';
  return { url, shown, doc: { ...schemaPart(v), $id: url }, openapi, dialect: declaredDialect(v, `schema file ${shown}${from}`), targets: new Set() };
}

/**
 * An OpenAPI document (`openapi: 3.x`) is not a schema: only its `components` are kept
 * (`#/components/schemas/Order` fragments point there); a Swagger 2 one keeps `definitions`.
 * A plain schema file is used whole; its own `$id` is replaced by its file URL, so its
 * relative references resolve against where it lies.
 */
function schemaPart(doc: Record<string, unknown>): Record<string, unknown> {
  if (typeof doc.openapi === 'string') return doc.components === undefined ? {} : { components: doc.components };
  if (typeof doc.swagger === 'string') return doc.definitions === undefined ? {} : { definitions: doc.definitions };
  return doc;
}

function parseJson(text: string, shown: string, from: string): unknown {
  try {
    return JSON.parse(text);
  } catch (e) {
    const msg = (e as Error).message;
    const at = /position (\d+)/.exec(msg);
    const line = at ? text.slice(0, Number(at[1])).split('\n').length : undefined;
    throw new SchemaFileError(`schema file ${shown}${line === undefined ? '' : `:${line}`}${from} is not valid JSON: ${msg}`);
  }
}

function parseYaml(text: string, shown: string, from: string): unknown {
  const lc = new LineCounter();
  const doc = parseDocument(text, { lineCounter: lc, prettyErrors: false, uniqueKeys: true });
  const e = doc.errors[0];
  if (e !== undefined) {
    const line = e.linePos?.[0]?.line ?? lc.linePos(e.pos[0]).line;
    throw new SchemaFileError(`schema file ${shown}:${line}${from} is not valid YAML: ${e.message.split('\n')[0]}`);
  }
  try {
    return doc.toJS({ maxAliasCount: 10_000 });
  } catch (err) {
    throw new SchemaFileError(`schema file ${shown}${from} is not valid YAML: ${(err as Error).message}`);
  }
}

/** Every `$ref` with a JSON Pointer fragment (RFC 6901) must point at something in its document. */
function checkFragments(node: unknown, base: string, files: SchemaFiles, within: SchemaFile | undefined): void {
  if (typeof node !== 'object' || node === null) return;
  if (Array.isArray(node)) {
    for (const v of node) checkFragments(v, base, files, within);
    return;
  }
  for (const [k, v] of Object.entries(node as Record<string, unknown>)) {
    if (DATA_KEYS.has(k)) continue;
    if (k === '$ref' && typeof v === 'string') checkPointer(v, base, files, within);
    else checkFragments(v, base, files, within);
  }
}

function checkPointer(ref: string, base: string, files: SchemaFiles, within: SchemaFile | undefined): void {
  const hash = ref.indexOf('#');
  const pointer = hash < 0 ? '' : ref.slice(hash + 1);
  if (!pointer.startsWith('/')) return;
  // Inline `#/…` references point into the inline schema: Ajv reports those with the config's path.
  const target = hash === 0 ? within : files.get(new URL(ref.slice(0, hash), base).href);
  if (target === undefined) return;
  let at: unknown = target.doc;
  for (const raw of pointer.slice(1).split('/')) {
    let part: string;
    try {
      part = decodeURIComponent(raw).replaceAll('~1', '/').replaceAll('~0', '~');
    } catch {
      part = raw;
    }
    if (typeof at !== 'object' || at === null || !Object.hasOwn(at, part)) {
      const from = within === undefined ? '' : ` (referenced from ${within.shown})`;
      throw new SchemaFileError(`$ref "${target.shown}#${pointer}"${from} resolves to nothing: ${target.shown} has no ${pointer}`);
    }
    at = (at as Record<string, unknown>)[part];
  }
}
