import { accessSync, constants } from 'node:fs';
import { resolve } from 'node:path';
import type { GatewayConfig } from '../../config/schema.js';
import type { ConfigSource } from '../../config/source.js';
import { closest } from '../../config/validate.js';
import { forwardable } from './metadata.js';
import { GrpcConfigError, compileMethod, routeParams } from './proto.js';
import type { GrpcConfig } from './schema.js';

/** Route keys that shape an HTTP exchange with an upstream, and mean nothing for a gRPC call. */
const NOT_FOR_GRPC = ['rewrite', 'preserveHost', 'timeouts', 'retries', 'fallback', 'mirror', 'deadline'] as const;

/**
 * Checks of `grpc:` routes, at config load: the upstream exists and has no HTTP health
 * check, the proto file loads, the method exists and is not client-streaming, `body` and
 * every path param name fields of the request message, forwarded headers can be metadata,
 * the CA file is readable. The compiled method is kept for the handler (proto.ts), so a
 * proto is parsed once per load. Runs on whatever passed (or partly passed) the schema.
 */
export function checkGrpcRoutes(config: GatewayConfig, baseDir: string, source: ConfigSource): void {
  const upstreams = config.upstreams && typeof config.upstreams === 'object' ? config.upstreams : {};
  const routes = Array.isArray(config.routes) ? config.routes : [];
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
    if (typeof g.tls?.ca === 'string' && !readable(resolve(baseDir, g.tls.ca))) source.issueAt(at('grpc', 'tls', 'ca'), `cannot read ${g.tls.ca}`);
    if (typeof g.protoFile !== 'string' || typeof g.method !== 'string' || !/^[^/]+\/[^/]+$/.test(g.method)) return;
    if (g.includeDirs !== undefined && !Array.isArray(g.includeDirs)) return;
    const path = r.match && typeof r.match === 'object' && typeof r.match.path === 'string' ? r.match.path : undefined;
    try {
      compileMethod(g as GrpcConfig, routeParams(path), baseDir);
    } catch (e) {
      if (!(e instanceof GrpcConfigError)) throw e;
      source.issueAt(at(...e.path), e.message);
    }
  });
}

function readable(p: string): boolean {
  try {
    accessSync(p, constants.R_OK);
    return true;
  } catch {
    return false;
  }
}
