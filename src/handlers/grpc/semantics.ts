import type { GatewayConfig } from '../../config/schema.js';
import type { ConfigSource } from '../../config/source.js';
import { closest } from '../../config/validate.js';
import { readCaFile } from '../../util/ca-file.js';
import { reasonOf } from '../../config/build-error.js';
import { forwardable } from './metadata.js';
import { compileService } from './annotations.js';
import { GrpcConfigError, compileMethod, routeParams, type ProtoCache } from './proto.js';
import type { GrpcConfig } from './schema.js';

/** Route keys that shape an HTTP exchange with an upstream, and mean nothing for a gRPC call. */
const NOT_FOR_GRPC = ['rewrite', 'preserveHost', 'timeouts', 'retries', 'fallback', 'mirror', 'deadline'] as const;

/**
 * Checks of `grpc:` routes, at config load: the upstream exists and has no HTTP health
 * check, the proto file loads, the method exists and is not client-streaming, `body` and
 * every path param name fields of the request message, forwarded headers can be metadata,
 * the CA file is readable and holds a certificate. The compiled method is kept for the
 * handler (proto.ts), so a proto is parsed once per load, whichever routes name it. Runs on
 * whatever passed (or partly passed) the schema.
 */
export function checkGrpcRoutes(config: GatewayConfig, baseDir: string, source: ConfigSource): void {
  const upstreams = config.upstreams && typeof config.upstreams === 'object' ? config.upstreams : {};
  const routes = Array.isArray(config.routes) ? config.routes : [];
  const protos: ProtoCache = new Map();
  routes.forEach((r, i) => {
    if (!r || typeof r !== 'object') return;
    const g = r.grpc as Partial<GrpcConfig> | undefined;
    if (!g || typeof g !== 'object' || Array.isArray(g)) return;
    const at = (...p: (string | number)[]) => ['routes', i, ...p];
    for (const k of NOT_FOR_GRPC) {
      if (r[k] !== undefined && !(k === 'preserveHost' && r[k] === false)) source.issueAt(at(k), `${k} does not apply to grpc routes${k === 'timeouts' ? ' (use grpc.timeout)' : ''}`);
    }
    if (typeof g.upstream === 'string') {
      const u = Object.hasOwn(upstreams, g.upstream) ? upstreams[g.upstream] : undefined;
      if (u === undefined) {
        const hint = closest(g.upstream, Object.keys(upstreams));
        source.issueAt(at('grpc', 'upstream'), `unknown upstream '${g.upstream}'${hint ? ` (did you mean '${hint}'?)` : ''}`);
      } else if (u && typeof u === 'object' && u.healthCheck !== undefined) {
        source.issueAt(at('grpc', 'upstream'), `upstream '${g.upstream}' has an HTTP healthCheck, which a gRPC target does not answer; remove it (outlierDetection still ejects failing targets)`);
      }
    }
    if (Array.isArray(g.forwardHeaders)) {
      g.forwardHeaders.forEach((h, j) => {
        if (typeof h === 'string' && !forwardable(h)) source.issueAt(at('grpc', 'forwardHeaders', j), `'${h}' cannot be sent as gRPC metadata (connection, gRPC-reserved or set by gRPC itself)`);
      });
    }
    if (typeof g.tls?.ca === 'string') {
      // Read once per load: the route's channels take these bytes (readCaFile).
      const read = readCaFile(g.tls, baseDir, g.tls.ca);
      if ('unreadable' in read) source.issueAt(at('grpc', 'tls', 'ca'), `cannot read ${g.tls.ca}: ${reasonOf(read.unreadable)}`);
      else if ('problem' in read) source.issueAt(at('grpc', 'tls', 'ca'), read.problem);
    }
    const path = r.match && typeof r.match === 'object' && typeof r.match.path === 'string' ? r.match.path : undefined;
    if (g.method !== undefined && g.service !== undefined) return source.issueAt(at('grpc', 'service'), 'set method (one RPC) or service (every RPC with google.api.http annotations), not both');
    if (g.method === undefined && g.service === undefined) return source.issueAt(at('grpc'), 'set method (package.Service/Method) or service (package.Service, routed by its google.api.http annotations)');
    if (typeof g.protoFile !== 'string' || (g.includeDirs !== undefined && !Array.isArray(g.includeDirs))) return;
    try {
      if (typeof g.service === 'string') checkService(g as GrpcConfig, path, baseDir, source, at, protos);
      else if (typeof g.method === 'string' && /^[^/]+\/[^/]+$/.test(g.method)) compileMethod(g as GrpcConfig, routeParams(path), baseDir, protos);
    } catch (e) {
      if (!(e instanceof GrpcConfigError)) throw e;
      source.issueAt(at(...e.path), e.message);
    }
  });
}

/**
 * A `service:` route: the bindings compile (annotations.ts), the body comes from them, and the
 * route's `match.path` is a prefix (`/v1/*`) under which every binding can be reached.
 */
function checkService(g: GrpcConfig, path: string | undefined, baseDir: string, source: ConfigSource, at: (...p: (string | number)[]) => (string | number)[], protos: ProtoCache): void {
  if (g.body !== undefined && g.body !== '*') source.issueAt(at('grpc', 'body'), "body does not apply to a service route: each google.api.http binding says where the body goes");
  if (path === undefined || !path.endsWith('*') || path.includes(':')) {
    source.issueAt(at('match', path === undefined ? 'pathRegex' : 'path'), 'a grpc service route matches a path prefix such as /v1/* (its google.api.http bindings pick the method)');
  }
  const svc = compileService(g, baseDir, protos);
  for (const m of svc.skipped) source.issueAt(at('grpc', 'service'), `${svc.name}.${m} streams from the client: its google.api.http bindings are not served`, 'warning');
  if (path === undefined || !path.endsWith('*') || path.includes(':')) return;
  const prefix = path.slice(0, -1);
  for (const b of svc.bindings) {
    const template = b.describe.slice(b.describe.indexOf(' ') + 1);
    const fixed = template.slice(0, template.search(/[{*]|$/));
    if (!fixed.startsWith(prefix) && !prefix.startsWith(fixed)) source.issueAt(at('match', 'path'), `the binding ${b.describe} is outside ${path}: no request routed here can reach it`);
  }
}
