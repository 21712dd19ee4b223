import { accessSync, constants } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, isAbsolute, join, resolve, sep } from 'node:path';
import type { Buffer } from 'node:buffer';
import type * as protobuf from 'protobufjs';
import type { MethodDefinition, Options as LoaderOptions, PackageDefinition } from '@grpc/proto-loader';
import { protoLoader, protobufJs } from './lazy.js';
import type { GrpcConfig } from './schema.js';
import { CONVERSION, codecOf, jsonNameOf, type MessageCodec } from './codec.js';
import { isHttpBody, rawResponse } from './httpbody.js';

/** proto-loader options: `toObject` as codec.ts's CONVERSION (the proto3 JSON mapping of scalars). */
const LOADER_OPTIONS: LoaderOptions = { ...(CONVERSION as LoaderOptions) };

/** A config error of a `grpc:` route, at `path` below the route. */
export class GrpcConfigError extends Error {
  readonly path: (string | number)[];
  constructor(path: (string | number)[], message: string) {
    super(message);
    this.name = 'GrpcConfigError';
    this.path = path;
  }
}

/** The method of a `grpc:` route, resolved at load: everything a call needs. */
export interface CompiledMethod {
  /** `/package.Service/Method`, the HTTP/2 path of the call. */
  path: string;
  request: protobuf.Type;
  response: protobuf.Type;
  /** The request message's JSON codec (compiled at load, with every type it holds). */
  codec: MessageCodec;
  serialize: (value: object) => Buffer;
  /** Bytes → the response as proto3 JSON (well-known types in their JSON forms); throws on a value with no JSON form. */
  deserialize: (bytes: Buffer) => unknown;
  serverStreaming: boolean;
  /** `'*'`: the body is the request message; a field: the body is that field; undefined: no body. */
  body: '*' | protobuf.Field | undefined;
  /** Route param name → the request field it sets. */
  params: Map<string, protobuf.Field>;
  /** `google.api.http` `response_body`: the JSON name of the response field answered instead of the whole message. */
  responseBody?: string;
  /** The HTTP body is a `google.api.HttpBody` (the request, or the `body` field): raw bytes, any Content-Type (httpbody.ts). */
  rawBody?: boolean;
  /** The answer is a `google.api.HttpBody`: `deserialize` yields a RawBody, sent as is (httpbody.ts). */
  rawResponse?: boolean;
}

/** Compiled methods by config object: the load-time check compiles, the handler reuses it. */
const compiled = new WeakMap<GrpcConfig, CompiledMethod>();
/**
 * The proto each `grpc:` config object loaded, kept as long as the config: `protoFiles`
 * lists the files of the config serving without parsing them again (each load and reload
 * makes new config objects, so a reload parses afresh).
 */
const loadedRoots = new WeakMap<object, protobuf.Root>();
/** grpc-js's method definitions of a loaded proto, made once for the routes that share it. */
const definitions = new WeakMap<protobuf.Root, PackageDefinition>();

/**
 * The protos one config load parsed, by file and include dirs: routes naming the same proto
 * share one parse (checkGrpcRoutes makes one per load; a reload parses afresh).
 */
export type ProtoCache = Map<string, protobuf.Root>;

/**
 * Loads the proto of a `grpc:` route and resolves its method, the body field and the
 * request fields the route's path params set. Throws a GrpcConfigError naming the key.
 * Field names are lowerCamelCase (protobufjs `keepCase: false`): the proto3 JSON names.
 *
 * @example
 *   const m = compileMethod(route.grpc!, ['id'], '/etc/gantry');
 *   m.path; // '/shop.users.v1.Users/GetUser'
 */
export function compileMethod(cfg: GrpcConfig, routeParams: readonly string[], baseDir: string, protos?: ProtoCache): CompiledMethod {
  const hit = compiled.get(cfg);
  if (hit !== undefined) return hit;
  const name = cfg.method!;
  const slash = name.indexOf('/');
  const loaded = loadService(cfg, baseDir, name.slice(0, slash), ['grpc', 'method'], protos);
  const methodName = name.slice(slash + 1);
  const method = loaded.service.methods[methodName];
  if (method === undefined) {
    const where = loaded.service.filename ? ` in ${shownFrom(baseDir)(loaded.service.filename)}` : '';
    throw new GrpcConfigError(['grpc', 'method'], `service '${loaded.name}'${where} has no method '${methodName}' (it has ${Object.keys(loaded.service.methods).join(', ') || 'none'})`);
  }
  if (method.requestStream) throw new GrpcConfigError(['grpc', 'method'], `'${name}' is ${method.responseStream ? 'bidirectional' : 'client'}-streaming: only unary and server-streaming methods can be called from REST`);
  const base = methodOf(loaded, method);
  const body = bodyOf(cfg.body ?? '*', base.request);
  const out: CompiledMethod = { ...base, body, rawBody: rawBodyOf(body, base.request), params: paramsOf(routeParams, base.request) };
  compiled.set(cfg, out);
  return out;
}

/** A service of a route's proto, loaded, with grpc-js's method definitions of it. */
export interface LoadedService {
  name: string;
  service: protobuf.Service;
  definition: Record<string, MethodDefinition<object, unknown>>;
}

/**
 * Loads the proto of a `grpc:` route and finds a service in it; a GrpcConfigError at `at`
 * when the service is not there.
 *
 * @example
 *   loadService(route.grpc!, '/etc/gantry', 'shop.users.v1.Users', ['grpc', 'service']).service.methodsArray
 */
export function loadService(cfg: GrpcConfig, baseDir: string, serviceName: string, at: (string | number)[], protos?: ProtoCache): LoadedService {
  const file = resolve(baseDir, cfg.protoFile);
  const includes = (cfg.includeDirs ?? []).map((d) => resolve(baseDir, d));
  const key = [file, ...includes].join('\0');
  const root = loadedRoots.get(cfg) ?? protos?.get(key) ?? loadRoot(file, includes, baseDir);
  protos?.set(key, root);
  loadedRoots.set(cfg, root);
  const service = root.lookup(serviceName);
  if (!(service instanceof protobufJs().Service)) {
    const known = servicesOf(root);
    throw new GrpcConfigError(at, `no service '${serviceName}' in ${cfg.protoFile}${known.length ? ` (it declares ${known.join(', ')})` : ' (it declares no service)'}`);
  }
  let definition = definitions.get(root);
  if (definition === undefined) definitions.set(root, (definition = protoLoader().fromJSON(root.toJSON(), LOADER_OPTIONS)));
  return { name: serviceName, service, definition: definition[serviceName] as Record<string, MethodDefinition<object, unknown>> };
}

/** What a call of `method` needs, without the route's body / path settings. */
export function methodOf(s: LoadedService, method: protobuf.Method): Omit<CompiledMethod, 'body' | 'params'> {
  const def = s.definition[method.name]!;
  const request = method.resolvedRequestType!;
  const response = method.resolvedResponseType!;
  const toJson = codecOf(response).toJson;
  const decode = def.responseDeserialize;
  const common = { path: def.path, request, response, codec: codecOf(request), serialize: def.requestSerialize, serverStreaming: method.responseStream === true };
  // An HttpBody answer is its bytes (httpbody.ts), not JSON.
  if (isHttpBody(response)) return { ...common, deserialize: rawResponse(response), rawResponse: true };
  return {
    ...common,
    // A throw here ends the call as INTERNAL "Response message parsing error: …" (grpc-js).
    deserialize: toJson === undefined ? decode : (bytes) => toJson(decode(bytes) as Record<string, unknown>),
  };
}

/** Params a `match.path` captures (`:name`); none for pathRegex routes. */
export function routeParams(path: string | undefined): string[] {
  return path === undefined ? [] : [...path.matchAll(/:([A-Za-z0-9_]+)/g)].map((m) => m[1]!);
}

/**
 * The field a name stands for: its proto name (`shelf_id`), the lowerCamelCase form protobufjs
 * keeps (`shelfId`), or its `json_name` (`id` for `string shelf_id = 1 [json_name = "id"];`), as
 * grpc-gateway resolves query parameters. A field's own name wins over another's json_name.
 * Used at load only (bodies, response_body, path variables, route params).
 *
 * @example
 *   fieldOf(PutShelfRequest, 'shelf')?.name; // 'shelfData' (json_name "shelf")
 */
export function fieldOf(type: protobuf.Type, name: string): protobuf.Field | undefined {
  const fields = type.fields;
  if (Object.hasOwn(fields, name)) return fields[name];
  const camel = protobufJs().util.camelCase(name);
  if (camel !== name && Object.hasOwn(fields, camel)) return fields[camel];
  return type.fieldsArray.find((f) => jsonNameOf(f) === name);
}

/**
 * The last place imports are looked up: protobufjs's package, which ships
 * `google/api/annotations.proto` and `google/api/http.proto` (and the well-known types), so
 * `google.api.http` annotations need no googleapis checkout in `includeDirs`.
 */
let builtIn: string | undefined;
const builtInDir = (): string => (builtIn ??= dirname(createRequire(import.meta.url).resolve('protobufjs')));

/**
 * The files a `grpc:` route's proto reads: `protoFile` and the files it imports, transitively,
 * as absolute paths (the built-in well-known and google/api protos left out). `cfg` is the
 * route's `grpc:` object as the config holds it (it may not be valid yet): when its load
 * compiled it, the files that parse read; otherwise the proto is loaded as `compileMethod`
 * does, and `complete` is false when it does not load (the imports past the failure are
 * unknown). Used to watch them (config/references.ts), never per request.
 *
 * @example protoFiles({ protoFile: 'protos/users.proto', includeDirs: ['protos'] }, '/etc/gantry').files // ['/etc/gantry/protos/common.proto', '/etc/gantry/protos/users.proto']
 */
export function protoFiles(cfg: { protoFile: string; includeDirs?: unknown }, baseDir: string): { files: string[]; complete: boolean } {
  const file = resolve(baseDir, cfg.protoFile);
  let root = loadedRoots.get(cfg);
  if (root === undefined) {
    const includes = Array.isArray(cfg.includeDirs) ? cfg.includeDirs.filter((d): d is string => typeof d === 'string') : [];
    try {
      root = loadRoot(file, includes.map((d) => resolve(baseDir, d)), baseDir);
    } catch {
      return { files: [file], complete: false };
    }
  }
  const builtIn = builtInDir();
  const files = root.files.filter((f) => isAbsolute(f) && !f.startsWith(builtIn + sep));
  return { files: [...new Set([file, ...files])].sort(), complete: true };
}

/** `baseDir`: the config's folder, which the files named in errors are shown relative to. */
function loadRoot(file: string, includes: readonly string[], baseDir: string): protobuf.Root {
  // Loading proto-loader registers the well-known protos protobufjs lacks (descriptor.proto,
  // which google/api/annotations.proto imports; api, type, source_context).
  protoLoader();
  const root = new (protobufJs().Root)();
  // Imports resolve against the importing file's folder, then the include dirs (as protoc -I).
  root.resolvePath = (origin, target) => {
    if (isAbsolute(target)) return target;
    for (const dir of origin ? [dirname(origin), ...includes, builtInDir()] : [...includes, builtInDir()]) {
      const p = join(dir, target);
      if (readable(p)) return p;
    }
    return origin ? join(dirname(origin), target) : target;
  };
  try {
    root.loadSync(file, { keepCase: false });
    root.resolveAll();
  } catch (e) {
    // The file protobufjs was parsing when it failed (it is left set by a tokenizer error; null after a parse that finished).
    const parse = protobufJs().parse as unknown as ParseState;
    const parsing = parse.filename;
    parse.filename = null;
    // Every file parsed: a reference to a type no file declares (protobufjs names neither the file nor the declaration).
    const missing = parsing === null && noSuchType(e) ? unresolved(root, shownFrom(baseDir)) : [];
    if (missing.length > 0) throw new GrpcConfigError(['grpc', 'protoFile'], `cannot load ${shownFrom(baseDir)(file)}: ${missing.join('; ')}`);
    throw new GrpcConfigError(['grpc', 'protoFile'], protoReason(e, file, baseDir, parsing ?? undefined));
  }
  return root;
}

/**
 * The references to types that no loaded proto declares, each with the declaration that makes
 * it and the file that holds it, as the config shows paths: protobufjs stops at the first
 * (`no such type: Nope`, naming no file and no field). protobufjs keeps no line per
 * declaration, so the declaration's full name stands in for it.
 *
 * @example unresolved(root, shown) // ["field b.Res.m has type 'Missing', which no loaded proto declares (b.proto)"]
 */
function unresolved(ns: protobuf.NamespaceBase, shown: (path: string) => string): string[] {
  const pb = protobufJs();
  const out: string[] = [];
  const none = (what: string, type: string, o: protobuf.ReflectionObject) => out.push(`${what} '${type}', which no loaded proto declares (${shown(fileOf(o))})`);
  for (const o of ns.nestedArray) {
    if (o instanceof pb.Type) {
      for (const f of o.fieldsArray) {
        try {
          f.resolve();
        } catch (e) {
          if (noSuchType(e)) none(`field ${f.fullName.slice(1)} has type`, f.type, f);
        }
      }
    } else if (o instanceof pb.Service) {
      for (const m of o.methodsArray) {
        if (o.lookup(m.requestType, [pb.Type]) === null) none(`rpc ${m.fullName.slice(1)} takes`, m.requestType, m);
        if (o.lookup(m.responseType, [pb.Type]) === null) none(`rpc ${m.fullName.slice(1)} returns`, m.responseType, m);
      }
    }
    if (o instanceof pb.Namespace) out.push(...unresolved(o, shown));
  }
  return out;
}

/** Whether protobufjs threw for a type it could not find (`no such type: X`, `no such Type or Enum 'X' in Type .a.B`). */
const noSuchType = (e: unknown): boolean => e instanceof Error && /^no such (type|Type or Enum)\b/.test(e.message);

/** The file a declaration was parsed from: its own, or its nearest parent's (protobufjs sets it on blocks). */
function fileOf(o: protobuf.ReflectionObject): string {
  for (let p: protobuf.ReflectionObject | null = o; p !== null; p = p.parent) if (p.filename) return p.filename;
  return '?';
}

/** Shows paths below `baseDir` (the config's folder) relative to it, as the config writes them. */
function shownFrom(baseDir: string): (text: string) => string {
  const prefix = baseDir.endsWith(sep) ? baseDir : baseDir + sep;
  return (text) => text.split(prefix).join('');
}

/** protobufjs's `parse.filename`: the file being parsed, for its error messages (documented, not in its types). */
interface ParseState {
  filename: string | null;
}

function readable(p: string): boolean {
  try {
    accessSync(p, constants.R_OK);
    return true;
  } catch {
    return false;
  }
}

/**
 * protobufjs messages, with the errno of an unreadable file spelled out, and the files (the
 * route's proto, or the import that failed) shown as the config writes paths: relative to
 * its folder, as schema-file and certificate errors show them. `parsing` is the file
 * protobufjs was parsing when it failed: its tokenizer's errors (`';' expected`) give the
 * line but not the file, in the route's proto as in an import, so the file is added
 * (`(users.proto, line 2)`, as its parser's own errors say), and to errors with no place
 * at all (`duplicate name 'x' in Type A (users.proto)`); a file that ends inside a block
 * makes protobufjs read past the end (a TypeError), said as such.
 *
 * @example protoReason(err, '/etc/gantry/users.proto', '/etc/gantry', '/etc/gantry/users.proto') // "cannot load users.proto: illegal token '}', ';' expected (users.proto, line 2)"
 */
function protoReason(e: unknown, file: string, baseDir: string, parsing?: string): string {
  const err = e as NodeJS.ErrnoException;
  const shown = shownFrom(baseDir);
  if (err.code === 'ENOENT') return `cannot read ${shown(err.path ?? file)} (no such file or directory)`;
  if (err.code === 'EACCES') return `cannot read ${shown(err.path ?? file)} (permission denied)`;
  let message = err.message ?? String(e);
  if (parsing !== undefined && e instanceof TypeError) message = `${parsing} ends inside a block or statement (protobufjs: ${message})`;
  else if (parsing !== undefined) message = / \(line \d+\)$/.test(message) ? message.replace(/ \(line (\d+)\)$/, ` (${parsing}, line $1)`) : `${message} (${parsing})`;
  return `cannot load ${shown(file)}: ${shown(message)}`;
}

function servicesOf(ns: protobuf.NamespaceBase): string[] {
  const out: string[] = [];
  for (const o of ns.nestedArray) {
    if (o instanceof protobufJs().Service) out.push(o.fullName.slice(1));
    else if (o instanceof protobufJs().Namespace) out.push(...servicesOf(o));
  }
  return out;
}

/** Whether the HTTP body is a google.api.HttpBody: the request message itself, or the body field. */
export function rawBodyOf(body: CompiledMethod['body'], request: protobuf.Type): boolean {
  return body === undefined ? false : isHttpBody(body === '*' ? request : body.resolvedType);
}

function bodyOf(body: string, request: protobuf.Type): CompiledMethod['body'] {
  if (body === '') return undefined;
  if (body === '*') return '*';
  const f = fieldOf(request, body);
  if (f === undefined) throw new GrpcConfigError(['grpc', 'body'], `the request message ${request.fullName.slice(1)} has no field '${body}'`);
  return f;
}

function paramsOf(params: readonly string[], request: protobuf.Type): Map<string, protobuf.Field> {
  const out = new Map<string, protobuf.Field>();
  for (const p of params) {
    if (p === '*') continue;
    const f = fieldOf(request, p);
    if (f === undefined) throw new GrpcConfigError(['match', 'path'], `path param ':${p}' is not a field of the request message ${request.fullName.slice(1)} (fields: ${Object.keys(request.fields).join(', ') || 'none'})`);
    const rt = f.resolvedType;
    if (f.repeated || f.map || (rt instanceof protobufJs().Type && codecOf(rt).leaf === undefined)) {
      throw new GrpcConfigError(['match', 'path'], `path param ':${p}' sets field '${f.name}', which is not a single scalar, enum or well-known type written as a string`);
    }
    out.set(p, f);
  }
  return out;
}
