import { Buffer } from 'node:buffer';
import type { ValidateFunction } from 'ajv';
import { definePolicy, type Reply } from '../../pipeline/policy.js';
import type { RequestContext } from '../../pipeline/context.js';
import { readRequestBody } from '../../pipeline/body.js';
import { PROBLEM_CONTENT_TYPE, problemFor, type GatewayErrorCode } from '../../errors.js';
import { hasRequestBody, isJsonType } from '../../http/headers.js';
import { schema, type ValidateConfig } from './schema.js';
import { entryDialect, SchemaCompiler, toIssues, type Location, type ValidationIssue } from './compile.js';
import { resolveSchemaFiles, type SchemaFiles } from './files.js';

/**
 * `validate`: checks requests against JSON Schemas before they go upstream — the JSON body,
 * query parameters, path parameters and headers, each optional. Schemas are compiled once
 * at config load (Ajv, with ajv-formats); query, params and headers are coerced from their
 * string form (`limit: { type: integer }` accepts `?limit=5`). The body is buffered only on
 * routes with a `body:` schema, up to `maxBodySize`, and forwarded byte for byte as it came.
 * A failure is a 400 problem+json listing `errors` (`location`, JSON `pointer`, `message`).
 *
 * @example
 *   - validate:
 *       query: { type: object, properties: { limit: { type: integer, maximum: 100 } } }
 *       body:
 *         type: object
 *         required: [name]
 *         properties: { name: { type: string, minLength: 1 } }
 */
export default definePolicy({
  name: 'validate',
  description: 'Request validation with JSON Schema: body, query, path params and headers.',
  schema,
  create(config, deps) {
    const { body, params, headers, query } = compileChecks(config, deps.baseDir);
    const max = config.maxBodySize;
    const room = config.maxErrors;
    const jsonTypes = new Set(config.jsonTypes.map((t) => t.toLowerCase()));
    const requireBody = config.requireBody;

    const isJson = (ct: string | undefined) => isJsonType(ct) || (jsonTypes.size > 0 && ct !== undefined && jsonTypes.has(mediaType(ct)));

    return {
      request: function validateRequest(ctx: RequestContext) {
        let issues: ValidationIssue[] | undefined;
        let count = 0;
        if (params !== undefined) [issues, count] = run(params, 'params', copyParams(ctx.params), issues, count, room);
        if (headers !== undefined) [issues, count] = run(headers, 'headers', { ...ctx.req.headers }, issues, count, room);
        if (query !== undefined) [issues, count] = run(query, 'query', parseQuery(ctx.query), issues, count, room);
        if (issues !== undefined) return invalid(ctx, issues, count);
        if (body === undefined) return undefined;
        if (ctx.body === undefined && !hasRequestBody(ctx.req.headers)) return requireBody && BODY_METHODS.has(ctx.method) ? missingBody(ctx) : undefined;
        const ct = ctx.req.headers['content-type'];
        if (!isJson(ct)) return problem(ctx, 'GW_ERR_UNSUPPORTED_MEDIA_TYPE', `The request body must be JSON (Content-Type application/json), not ${ct === undefined ? 'untyped' : `'${ct}'`}.`);
        return readRequestBody(ctx, max).then((raw) => checkBody(ctx, body, raw, requireBody && BODY_METHODS.has(ctx.method), room));
      },
    };
  },
});

/** Methods whose requests are expected to carry a body (RFC 9110 §9.3); others without one pass. */
const BODY_METHODS = new Set(['POST', 'PUT', 'PATCH']);

/**
 * The compiled checks (undefined where not configured). Schema files are read here, once per
 * config load (relative to the config's folder), never per request.
 */
function compileChecks(config: ValidateConfig, baseDir: string) {
  const files: SchemaFiles = new Map();
  const resolved = (s: Record<string, unknown> | boolean | undefined) => (s === undefined ? undefined : (resolveSchemaFiles(s, baseDir, files) as Record<string, unknown> | boolean));
  const schemas = { body: resolved(config.body), params: resolved(config.params), headers: resolved(config.headers), query: resolved(config.query) };
  const inline = Object.entries({ body: config.body, params: config.params, headers: config.headers, query: config.query }).filter(([, s]) => s !== undefined);
  const compiler = new SchemaCompiler({ coerce: config.coerce, allErrors: config.allErrors }, files, entryDialect(files, inline));
  const one = (s: Record<string, unknown> | boolean | undefined, strings: boolean) => (s === undefined ? undefined : compiler.compile(s, strings));
  return { body: one(schemas.body, false), params: one(schemas.params, true), headers: one(schemas.headers, true), query: one(schemas.query, true) };
}

/** Validates `data`; on failure adds its issues (within `room`) and returns the lists to carry on. */
function run(check: ValidateFunction, location: Location, data: unknown, issues: ValidationIssue[] | undefined, count: number, room: number): [ValidationIssue[] | undefined, number] {
  if (check(data)) return [issues, count];
  const out = issues ?? [];
  count += toIssues(location, check.errors, out, room - out.length);
  return [out, count];
}

function checkBody(ctx: RequestContext, check: ValidateFunction, raw: Buffer, requireBody: boolean, room: number): Reply | undefined {
  if (raw.length === 0) return requireBody ? missingBody(ctx) : undefined;
  let data: unknown;
  try {
    data = JSON.parse(raw.toString('utf8'));
  } catch (e) {
    return invalid(ctx, [{ location: 'body', pointer: '', message: `is not valid JSON (${(e as Error).message})`, keyword: 'json' }], 1);
  }
  // ctx.body (set by readRequestBody) is what goes upstream: the bytes received, unchanged.
  if (check(data)) return undefined;
  const issues: ValidationIssue[] = [];
  return invalid(ctx, issues, toIssues('body', check.errors, issues, room));
}

function missingBody(ctx: RequestContext): Reply {
  return invalid(ctx, [{ location: 'body', pointer: '', message: 'is required', keyword: 'required' }], 1);
}

function invalid(ctx: RequestContext, issues: ValidationIssue[], count: number): Reply {
  const shown = issues.length < count ? ` (the first ${issues.length} are listed)` : '';
  return problem(ctx, 'GW_ERR_VALIDATION_FAILED', `The request does not match this route's schema: ${count} error${count === 1 ? '' : 's'}${shown}.`, issues);
}

/** A problem+json reply (RFC 9457); `errors` is its extension member listing what failed. */
function problem(ctx: RequestContext, code: GatewayErrorCode, detail: string, errors?: ValidationIssue[]): Reply {
  ctx.errorCode = code;
  const p = problemFor(code, detail, ctx.id);
  p.instance = ctx.path;
  if (errors !== undefined) p.errors = errors;
  return { status: p.status, headers: ['content-type', PROBLEM_CONTENT_TYPE, 'cache-control', 'no-store'], body: Buffer.from(JSON.stringify(p)) };
}

/** Query parameters as an object (a fresh one: coercion writes into it); a repeated name gives an array. */
function parseQuery(query: string): Record<string, string | string[]> {
  const out: Record<string, string | string[]> = Object.create(null) as Record<string, string | string[]>;
  if (query.length <= 1) return out;
  for (const [k, v] of new URLSearchParams(query)) {
    const prev = out[k];
    if (prev === undefined) out[k] = v;
    else if (Array.isArray(prev)) prev.push(v);
    else out[k] = [prev, v];
  }
  return out;
}

function copyParams(params: Record<string, string | undefined>): Record<string, string> {
  const out: Record<string, string> = Object.create(null) as Record<string, string>;
  for (const k in params) if (params[k] !== undefined) out[k] = params[k];
  return out;
}

function mediaType(ct: string): string {
  const semi = ct.indexOf(';');
  return (semi < 0 ? ct : ct.slice(0, semi)).trim().toLowerCase();
}
