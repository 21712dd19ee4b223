import FindMyWay from 'find-my-way';
import type * as protobuf from 'protobufjs';
import { codecOf, jsonNameOf } from './codec.js';
import { protobufJs } from './lazy.js';
import { GrpcConfigError, fieldOf, loadService, methodOf, rawBodyOf, type CompiledMethod, type ProtoCache } from './proto.js';
import { isHttpBody, rawResponse } from './httpbody.js';
import type { GrpcConfig } from './schema.js';

/**
 * `grpc: { service: … }`: one route serves every method of a service that has
 * `google.api.http` bindings (google/api/http.proto). At load, each binding's verb and path
 * template go into a find-my-way router (as the gateway's own router); per request the router
 * picks the binding, and the template's variables fill the request message.
 */

/** A binding, compiled: the method it calls, how its body is read, and its path variables. */
export interface Binding extends CompiledMethod {
  /** `GET /v1/{name=shelves/*}` (for messages). */
  describe: string;
  vars: PathVar[];
}

/** A template variable: the request field (dotted path) and how its value is put together from the matched params. */
interface PathVar {
  field: string;
  /** Literal text; `{ p }`: the value of router param `p`; `{ tail }`: a trailing `**`, the path from segment `tail` on. */
  parts: (string | { p: string } | { tail: number })[];
}

/** What routing one request found. */
export type ServiceMatch = { kind: 'found'; binding: Binding; values: [string, string][] } | { kind: 'method-not-allowed'; allow: string[] } | { kind: 'not-found' };

/** A service's bindings, compiled into a router. */
export interface CompiledService {
  name: string;
  bindings: Binding[];
  /** Methods skipped (streaming from the client), for a load-time warning. */
  skipped: string[];
  find(method: string, path: string): ServiceMatch;
}

const HTTP_RULE = '(google.api.http)';
const VERBS = ['get', 'put', 'post', 'delete', 'patch'] as const;
const FIELD_PATH = /^[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)*$/;
const LITERAL = /^[A-Za-z0-9\-._~!$&'()+,;=@%]+$/;

interface HttpRule {
  get?: string;
  put?: string;
  post?: string;
  delete?: string;
  patch?: string;
  custom?: { kind?: string; path?: string };
  body?: string;
  response_body?: string;
  responseBody?: string;
  additional_bindings?: HttpRule | HttpRule[];
  additionalBindings?: HttpRule | HttpRule[];
}

const compiled = new WeakMap<GrpcConfig, CompiledService>();

/**
 * Loads the route's proto and compiles the `google.api.http` bindings of `cfg.service`. Throws
 * a GrpcConfigError (at `grpc.service`) for a service without bindings, a template the router
 * cannot express, a variable or body naming no field, and two bindings of one verb and path.
 *
 * @example
 *   const svc = compileService(route.grpc!, '/etc/gantry');
 *   svc.find('GET', '/v1/shelves/1/books/2'); // { kind: 'found', binding, values: [['name', 'shelves/1/books/2']] }
 */
export function compileService(cfg: GrpcConfig, baseDir: string, protos?: ProtoCache): CompiledService {
  const hit = compiled.get(cfg);
  if (hit !== undefined) return hit;
  const at = ['grpc', 'service'];
  const loaded = loadService(cfg, baseDir, cfg.service!, at, protos);
  const router = FindMyWay({ ignoreTrailingSlash: false, ignoreDuplicateSlashes: false, caseSensitive: true, maxParamLength: 500 });
  const taken = new Map<string, string>();
  const verbs = new Set<string>();
  const bindings: Binding[] = [];
  const skipped: string[] = [];
  for (const method of loaded.service.methodsArray) {
    const rules = rulesOf(method);
    if (rules.length === 0) continue;
    if (method.requestStream) {
      skipped.push(method.name);
      continue;
    }
    const base = methodOf(loaded, method);
    for (const rule of rules) {
      const b = compileBinding(loaded.name, method, base, rule);
      const [verb, template] = b.describe.split(' ') as [string, string];
      const { pattern, vars } = parseTemplate(template, `${method.name}: ${b.describe}`);
      const key = `${verb} ${pattern.replace(/:p\d+/g, ':')}`;
      const other = taken.get(key);
      if (other !== undefined) throw new GrpcConfigError(at, `${method.name}: ${b.describe} conflicts with ${other} (same verb and path)`);
      try {
        router.on(verb as 'GET', pattern, () => undefined, { ...b, vars });
      } catch (e) {
        throw new GrpcConfigError(at, `${method.name}: ${b.describe} cannot be routed (${(e as Error).message})`);
      }
      taken.set(key, `${method.name}: ${b.describe}`);
      verbs.add(verb);
      bindings.push({ ...b, vars });
    }
  }
  if (bindings.length === 0) {
    throw new GrpcConfigError(
      at,
      `service '${loaded.name}' has no google.api.http annotations${skipped.length ? ` on methods REST can call (${skipped.join(', ')} stream from the client)` : ''}: add \`option (google.api.http) = { get: "/v1/…" };\` to its methods (import "google/api/annotations.proto"), or name one method with grpc.method`,
    );
  }
  const verbList = [...verbs];
  const hasGet = verbs.has('GET');
  const out: CompiledService = {
    name: loaded.name,
    bindings,
    skipped,
    find(method, path) {
      // HEAD is served by a GET binding (as the gateway's routes do), unless a custom HEAD binding exists.
      const found = router.find(method as 'GET', path) ?? (method === 'HEAD' && hasGet ? router.find('GET', path) : null);
      if (found !== null) {
        const b = found.store as Binding;
        const params = found.params as Record<string, string | undefined>;
        return { kind: 'found', binding: b, values: b.vars.map((v) => [v.field, v.parts.map((x) => (typeof x === 'string' ? x : 'p' in x ? (params[x.p] ?? '') : multiSegment(path, x.tail))).join('')]) };
      }
      const allow = verbList.filter((v) => v !== method && router.find(v as 'GET', path) !== null);
      if (allow.includes('GET') && !allow.includes('HEAD')) allow.splice(allow.indexOf('GET') + 1, 0, 'HEAD');
      return allow.length > 0 ? { kind: 'method-not-allowed', allow } : { kind: 'not-found' };
    },
  };
  checkBindingFields(out);
  compiled.set(cfg, out);
  return out;
}

/** The method's HttpRule and its additional bindings (one level deep, as http.proto says). */
function rulesOf(method: protobuf.Method): HttpRule[] {
  const opts = method.parsedOptions as Record<string, unknown>[] | undefined;
  const rule = opts?.find((o) => Object.hasOwn(o, HTTP_RULE))?.[HTTP_RULE] as HttpRule | undefined;
  if (rule === undefined) return [];
  const more = rule.additional_bindings ?? rule.additionalBindings;
  return [rule, ...(more === undefined ? [] : Array.isArray(more) ? more : [more])];
}

function compileBinding(service: string, method: protobuf.Method, base: Omit<CompiledMethod, 'body' | 'params'>, rule: HttpRule): Omit<Binding, 'vars'> {
  const at = ['grpc', 'service'];
  const set = VERBS.filter((v) => typeof rule[v] === 'string');
  let verb: string;
  let template: string;
  if (set.length === 1 && rule.custom === undefined) {
    verb = set[0]!.toUpperCase();
    template = rule[set[0]!]!;
  } else if (set.length === 0 && rule.custom !== undefined && typeof rule.custom.kind === 'string' && typeof rule.custom.path === 'string') {
    verb = rule.custom.kind;
    template = rule.custom.path;
  } else {
    throw new GrpcConfigError(at, `${service}.${method.name}: a google.api.http rule needs exactly one of get, put, post, delete, patch or custom { kind, path }`);
  }
  const describe = `${verb} ${template}`;
  const request = base.request;
  let body: CompiledMethod['body'];
  const b = rule.body ?? '';
  if (b === '*') body = '*';
  else if (b !== '') {
    body = fieldOf(request, b);
    if (body === undefined) throw new GrpcConfigError(at, `${method.name}: ${describe} has body "${b}", which is not a field of ${request.fullName.slice(1)}`);
  }
  const rb = rule.response_body ?? rule.responseBody ?? '';
  const out: Omit<Binding, 'vars'> = { ...base, body, rawBody: rawBodyOf(body, request), params: new Map(), describe };
  if (rb !== '') {
    if (base.rawResponse) throw new GrpcConfigError(at, `${method.name}: ${describe} has response_body "${rb}", but its response is a google.api.HttpBody (answered as raw bytes, whole)`);
    const f = fieldOf(base.response, rb);
    if (f === undefined) throw new GrpcConfigError(at, `${method.name}: ${describe} has response_body "${rb}", which is not a field of ${base.response.fullName.slice(1)}`);
    // An HttpBody field is answered as raw bytes, as a whole HttpBody response is.
    if (isHttpBody(f.resolvedType)) {
      out.deserialize = rawResponse(base.response, f);
      out.rawResponse = true;
    } else {
      out.responseBody = jsonNameOf(f);
    }
  }
  return out;
}

/**
 * A path template (`/v1/{name=shelves/*}/books:search`) as a find-my-way pattern and the
 * variables it binds. Each `*` is a param; a trailing `**` is find-my-way's wildcard; a verb
 * follows the last segment (`::verb`, the param before it given a regex so find-my-way can
 * tell where it ends). Throws a GrpcConfigError for what the template grammar or the router
 * does not allow.
 *
 * @example
 *   parseTemplate('/v1/{name=shelves/*}/books/{id}', 'm').pattern; // '/v1/shelves/:p0/books/:p1'
 */
export function parseTemplate(template: string, what: string): { pattern: string; vars: PathVar[] } {
  const fail = (why: string): never => {
    throw new GrpcConfigError(['grpc', 'service'], `${what}: ${why}`);
  };
  if (!template.startsWith('/')) fail('the path template must start with "/"');
  // The verb: a ":" after the last "/" and the last "}".
  let body = template.slice(1);
  let verb: string | undefined;
  const colon = body.lastIndexOf(':');
  if (colon > body.lastIndexOf('/') && colon > body.lastIndexOf('}')) {
    verb = body.slice(colon + 1);
    body = body.slice(0, colon);
    if (!LITERAL.test(verb)) fail(`the verb ':${verb}' is not a literal`);
  }
  const segments = splitSegments(body, fail);
  const out: string[] = [];
  const vars: PathVar[] = [];
  let n = 0;
  let wildcard = false;
  const segment = (s: string, parts: PathVar['parts'] | undefined): void => {
    if (wildcard) fail('"**" must be the last segment');
    if (s === '*') {
      const p = `p${n++}`;
      out.push(`:${p}`);
      parts?.push({ p });
    } else if (s === '**') {
      wildcard = true;
      parts?.push({ tail: out.length });
      out.push('*');
    } else {
      if (!LITERAL.test(s)) fail(`'${s}' is not a literal path segment`);
      out.push(s.replaceAll(':', '::'));
      parts?.push(s);
    }
  };
  for (const seg of segments) {
    if (!seg.startsWith('{')) {
      segment(seg, undefined);
      continue;
    }
    const inner = seg.slice(1, -1);
    const eq = inner.indexOf('=');
    const field = eq < 0 ? inner : inner.slice(0, eq);
    if (!FIELD_PATH.test(field)) fail(`'{${inner}}' does not name a field`);
    if (vars.some((v) => v.field === field)) fail(`the field '${field}' is bound twice`);
    const parts: PathVar['parts'] = [];
    const sub = eq < 0 ? ['*'] : inner.slice(eq + 1).split('/');
    sub.forEach((s, i) => {
      if (i > 0) parts.push('/');
      segment(s, parts);
    });
    vars.push({ field, parts });
  }
  let pattern = `/${out.join('/')}`;
  if (verb !== undefined) {
    if (wildcard) fail('a verb cannot follow "**"');
    const last = out.at(-1)!;
    // find-my-way ends a param at "/" "-" "."; a regex tells it the param stops before the verb.
    if (last.startsWith(':')) pattern = `${pattern}(^[^/]+)`;
    pattern = `${pattern}::${verb.replaceAll(':', '::')}`;
  }
  return { pattern, vars };
}

/** RFC 6570 reserved characters, percent-encoded (`%2F`, `%3A`, …; the gateway's path normalisation upper-cases the hex). */
const RESERVED_ESCAPE = /(%(?:2[1346-9A-CF]|3[ABDF]|40|5[BD]))/i;

/**
 * The value a trailing `**` binds: the path from segment `tail` on, as sent, with escapes of
 * RFC 6570 reserved characters kept (`a%2Fb` stays `a%2Fb`, not a third segment) and every
 * other escape decoded (`%20` → space) — grpc-gateway's `UnescapingModeAllExceptReserved`
 * (the mode of grpc-httpjson-transcoding, the reference transcoder) for multi-segment
 * matches. find-my-way decodes a wildcard whole, so the value is taken from the path itself.
 * A single-segment variable (`{name}`, each `*`) is decoded whole, by the router.
 *
 * @example
 *   multiSegment('/v1/shelves/a%2Fb/c%20d', 2); // 'a%2Fb/c d'
 */
export function multiSegment(path: string, tail: number): string {
  let at = 0;
  for (let n = 0; n <= tail; n++) {
    at = path.indexOf('/', at) + 1;
    if (at === 0) return '';
  }
  const raw = path.slice(at);
  if (!raw.includes('%')) return raw;
  // split() with a capturing group: odd items are the reserved escapes, kept as they are.
  return raw
    .split(RESERVED_ESCAPE)
    .map((s, i) => (i % 2 === 1 ? s : decodeSafely(s)))
    .join('');
}

function decodeSafely(s: string): string {
  try {
    return decodeURIComponent(s);
  } catch {
    // Only a path the gateway did not normalise gets here (normalisation refuses malformed escapes).
    return s;
  }
}

/** Template segments, a `{…}` variable (which may hold "/") kept whole. */
function splitSegments(body: string, fail: (why: string) => never): string[] {
  const out: string[] = [];
  let cur = '';
  let depth = 0;
  for (const ch of body) {
    if (ch === '{') {
      if (depth > 0 || cur !== '') fail('a variable must be a whole segment');
      depth = 1;
    } else if (ch === '}') {
      if (depth === 0) fail('unbalanced "}"');
      depth = 0;
      cur += ch;
      continue;
    } else if (ch === '/' && depth === 0) {
      if (cur === '') fail('empty path segment');
      out.push(cur);
      cur = '';
      continue;
    } else if (depth === 0 && cur.endsWith('}')) {
      fail('a variable must be a whole segment');
    }
    cur += ch;
  }
  if (depth > 0) fail('unbalanced "{"');
  if (cur === '') fail('empty path segment');
  out.push(cur);
  return out;
}

/**
 * Checks the variables of every binding against the request message: each names a field
 * path of singular messages ending in a field one path segment can set (scalar, enum, or a
 * well-known type written as a string). Throws a GrpcConfigError.
 */
export function checkBindingFields(svc: CompiledService): void {
  for (const b of svc.bindings) {
    for (const v of b.vars) {
      let type = b.request;
      const names = v.field.split('.');
      names.forEach((name, i) => {
        const f = fieldOf(type, name);
        const where = `${b.describe}: the variable '${v.field}'`;
        if (f === undefined) throw new GrpcConfigError(['grpc', 'service'], `${where} is not a field of ${type.fullName.slice(1)} (fields: ${Object.keys(type.fields).join(', ') || 'none'})`);
        const rt = f.resolvedType;
        const isMessage = rt instanceof protobufJs().Type;
        if (i < names.length - 1) {
          if (!isMessage || f.repeated || f.map || codecOf(rt).special) throw new GrpcConfigError(['grpc', 'service'], `${where}: '${name}' is not a singular message field`);
          type = rt;
        } else if (f.repeated || f.map || (isMessage && codecOf(rt).leaf === undefined)) {
          throw new GrpcConfigError(['grpc', 'service'], `${where} sets '${f.name}', which is not a single scalar, enum or well-known type written as a string`);
        }
      });
    }
  }
}
