import { Ajv, type ErrorObject, type Options, type ValidateFunction } from 'ajv';
import { createRequire } from 'node:module';
import type { SchemaFiles } from './files.js';

type AddFormats = (ajv: Ajv) => Ajv;
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
  #plain: Ajv | undefined;
  #coercing: Ajv | undefined;

  /** `files`: the schema files the schemas reference (`resolveSchemaFiles`), added to each Ajv under their `file:` URLs. */
  constructor(options: { coerce: boolean; allErrors: boolean }, files?: SchemaFiles) {
    // strictSchema: an unknown keyword (a typo such as `minimun`) is a config error, not a silent pass.
    this.#options = { allErrors: options.allErrors, strictSchema: true, strictTypes: false, strictTuples: false, strictRequired: false, logger: false, useDefaults: false };
    this.#coerce = options.coerce;
    this.#files = files !== undefined && files.size > 0 ? files : undefined;
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
    if (coerce) return (this.#coercing ??= this.#withFiles(addFormats(new Ajv({ ...this.#options, coerceTypes: 'array' }))));
    return (this.#plain ??= this.#withFiles(addFormats(new Ajv({ ...this.#options, coerceTypes: false }))));
  }

  #withFiles(ajv: Ajv): Ajv {
    if (this.#files === undefined) return ajv;
    let openapi = false;
    for (const f of this.#files.values()) {
      if (f.openapi && !openapi) {
        // OpenAPI 3.0's schema annotations (`nullable` Ajv knows) and the `components` that holds its schemas.
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

/** Keywords an OpenAPI 3.0 Schema Object may carry that JSON Schema draft-07 does not define (annotations here). */
const OPENAPI_KEYWORDS = ['components', 'example', 'xml', 'externalDocs', 'discriminator'];

/**
 * Appends Ajv's errors as issues, at most `room` of them; returns how many there were.
 * `required` and `additionalProperties` point at the property concerned, not its parent.
 */
export function toIssues(location: Location, errors: readonly ErrorObject[] | null | undefined, out: ValidationIssue[], room: number): number {
  if (!errors) return 0;
  for (let i = 0; i < errors.length && i < room; i++) {
    const e = errors[i]!;
    let pointer = e.instancePath;
    const p = e.params as { missingProperty?: string; additionalProperty?: string };
    const prop = e.keyword === 'required' ? p.missingProperty : e.keyword === 'additionalProperties' ? p.additionalProperty : undefined;
    if (prop !== undefined) pointer += '/' + prop.replaceAll('~', '~0').replaceAll('/', '~1');
    out.push({ location, pointer, message: e.message ?? e.keyword, keyword: e.keyword });
  }
  return errors.length;
}
