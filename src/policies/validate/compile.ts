import { Ajv, type ErrorObject, type Options, type ValidateFunction } from 'ajv';
import { createRequire } from 'node:module';
import { declaredDialect, SchemaFileError, type Dialect, type SchemaFiles } from './files.js';

type AddFormats = (ajv: Ajv) => Ajv;
type AjvClass = new (options: Options) => Ajv;
let ajv2020: AjvClass | undefined;

/** Ajv's 2020-12 class, required on first use (only entries that use 2020-12 load it). */
function Ajv2020(): AjvClass {
  if (ajv2020 === undefined) {
    const mod = createRequire(import.meta.url)('ajv/dist/2020') as AjvClass & { default?: AjvClass };
    ajv2020 = mod.default ?? mod;
  }
  return ajv2020;
}

/**
 * The dialect one `validate` entry compiles in: 2020-12 when one of its schemas or files
 * declares it (an OpenAPI 3.1 document, `$schema: https://json-schema.org/draft/2020-12/schema`),
 * else draft-07. Schemas that declare nothing follow. An Ajv instance holds one dialect
 * (2020-12 changed what `items` means), so an entry whose schemas declare both is an error
 * naming one of each.
 *
 * @example entryDialect(files, [config.body, config.query]) // 'draft-07'
 */
export function entryDialect(files: SchemaFiles, inline: Iterable<[string, unknown]>): Dialect {
  const seen = new Map<Dialect, string>();
  for (const [where, schema] of inline) {
    const d = declaredDialect(schema, where);
    if (d !== undefined && !seen.has(d)) seen.set(d, `${where} ($schema)`);
  }
  for (const f of files.values()) {
    if (f.dialect !== undefined && !seen.has(f.dialect)) seen.set(f.dialect, f.openapi ? `${f.shown} (OpenAPI)` : `${f.shown} ($schema)`);
  }
  const late = seen.get('2020-12');
  const early = seen.get('draft-07');
  if (late !== undefined && early !== undefined) throw new SchemaFileError(`one validate entry mixes JSON Schema dialects: ${early} is draft-07, ${late} is 2020-12; use one per entry`);
  return late !== undefined ? '2020-12' : 'draft-07';
}
let addFormatsPlugin: AddFormats | undefined;

/**
 * ajv-formats (~10 MB resident with its format regexes) is required on first use, so a
 * gateway without a `validate` policy never loads it. It is CommonJS: `require` loads it
 * synchronously, as the load-time schema checks need.
 */
function addFormats(ajv: Ajv): Ajv {
  if (addFormatsPlugin === undefined) {
    const mod = createRequire(import.meta.url)('ajv-formats') as AddFormats & { default?: AddFormats };
    addFormatsPlugin = mod.default ?? mod;
  }
  return addFormatsPlugin(ajv);
}

/** Where in the request a value was checked. */
export type Location = 'body' | 'query' | 'params' | 'headers';

/** One validation failure as the 400 response lists it. */
export interface ValidationIssue {
  location: Location;
  /** JSON Pointer (RFC 6901) into that location: `/items/0/qty`, `/limit`; `''` for the whole value. */
  pointer: string;
  message: string;
  /** The JSON Schema keyword that failed (`type`, `required`, `maximum`, …). */
  keyword: string;
}

/**
 * The Ajv instances one `validate` entry compiles into: bodies as they are, query / params /
 * headers with type coercion (they arrive as strings). A fresh pair per config load, so a
 * reload never meets the schemas (and `$id`s) of the previous one.
 *
 * @example
 *   const c = new SchemaCompiler({ coerce: true, allErrors: true });
 *   const check = c.compile({ type: 'object', properties: { limit: { type: 'integer' } } }, true);
 */
export class SchemaCompiler {
  readonly #options: Options;
  readonly #coerce: boolean;
  readonly #files: SchemaFiles | undefined;
  readonly #dialect: Dialect;
  #plain: Ajv | undefined;
  #coercing: Ajv | undefined;

  /**
   * `files`: the schema files the schemas reference (`resolveSchemaFiles`), added to each Ajv
   * under their `file:` URLs. `dialect`: the entry's (`entryDialect`), draft-07 by default.
   */
  constructor(options: { coerce: boolean; allErrors: boolean }, files?: SchemaFiles, dialect: Dialect = 'draft-07') {
    // strictSchema: an unknown keyword (a typo such as `minimun`) is a config error, not a silent pass.
    this.#options = { allErrors: options.allErrors, strictSchema: true, strictTypes: false, strictTuples: false, strictRequired: false, logger: false, useDefaults: false };
    this.#coerce = options.coerce;
    this.#files = files !== undefined && files.size > 0 ? files : undefined;
    this.#dialect = dialect;
  }

  /**
   * Compiles `schema`; throws Ajv's error (bad keyword, unresolved `$ref`, …) when it cannot,
   * naming the schema file (and fragment) at fault when the error lies in one.
   */
  compile(schema: Record<string, unknown> | boolean, stringValues: boolean): ValidateFunction {
    const ajv = this.#instance(stringValues && this.#coerce);
    try {
      return ajv.compile(schema);
    } catch (e) {
      throw this.#blame(ajv, e);
    }
  }

  #instance(coerce: boolean): Ajv {
    if (coerce) return (this.#coercing ??= this.#create({ ...this.#options, coerceTypes: 'array' }));
    return (this.#plain ??= this.#create({ ...this.#options, coerceTypes: false }));
  }

  #create(options: Options): Ajv {
    const Class = this.#dialect === '2020-12' ? Ajv2020() : Ajv;
    return this.#withFiles(addFormats(new Class(options)));
  }

  #withFiles(ajv: Ajv): Ajv {
    if (this.#files === undefined) return ajv;
    let openapi = false;
    for (const f of this.#files.values()) {
      if (f.openapi && !openapi) {
        // OpenAPI's schema annotations (3.0's `nullable` Ajv knows) and the `components` that holds its schemas.
        ajv.addVocabulary(OPENAPI_KEYWORDS);
        openapi = true;
      }
      try {
        ajv.addSchema(f.doc, f.url);
      } catch (e) {
        throw new Error(`${f.shown}: ${(e as Error).message}`);
      }
    }
    return ajv;
  }

  /** On a compile error, the first referenced part of a file that does not compile on its own is named. */
  #blame(ajv: Ajv, error: unknown): unknown {
    if (this.#files === undefined) return error;
    for (const f of this.#files.values()) {
      for (const target of f.targets) {
        try {
          ajv.compile({ $ref: target });
        } catch (e) {
          const hash = target.indexOf('#');
          return new Error(`${f.shown}${hash < 0 ? '' : target.slice(hash)}: ${(e as Error).message}`);
        }
      }
    }
    return error;
  }
}

/** Keywords an OpenAPI Schema Object may carry that JSON Schema does not define (annotations here). */
const OPENAPI_KEYWORDS = ['components', 'example', 'xml', 'externalDocs', 'discriminator'];

/**
 * Appends Ajv's errors as issues, at most `room` of them; returns how many there were.
 * `required`, `additionalProperties` and `unevaluatedProperties` point at the property concerned, not its parent.
 */
export function toIssues(location: Location, errors: readonly ErrorObject[] | null | undefined, out: ValidationIssue[], room: number): number {
  if (!errors) return 0;
  for (let i = 0; i < errors.length && i < room; i++) {
    const e = errors[i]!;
    let pointer = e.instancePath;
    const p = e.params as { missingProperty?: string; additionalProperty?: string; unevaluatedProperty?: string };
    const prop = e.keyword === 'required' ? p.missingProperty : e.keyword === 'additionalProperties' ? p.additionalProperty : e.keyword === 'unevaluatedProperties' ? p.unevaluatedProperty : undefined;
    if (prop !== undefined) pointer += '/' + prop.replaceAll('~', '~0').replaceAll('/', '~1');
    out.push({ location, pointer, message: e.message ?? e.keyword, keyword: e.keyword });
  }
  return errors.length;
}
