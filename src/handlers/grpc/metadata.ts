import { Buffer } from 'node:buffer';
import type { Metadata } from '@grpc/grpc-js';
import { grpcJs } from './lazy.js';
import type { RequestContext } from '../../pipeline/context.js';
import type { HeaderList } from '../../http/headers.js';

/** Response header prefix of the backend's initial metadata (grpc-gateway's convention). */
export const METADATA_PREFIX = 'grpc-metadata-';
/** Response header prefix of the backend's trailing metadata (grpc-gateway's convention). */
export const TRAILER_PREFIX = 'grpc-trailer-';

/**
 * Request headers that cannot be metadata: HTTP/2 connection-specific fields (RFC 9113
 * §8.2.2), the ones gRPC itself sets (gRPC over HTTP/2 spec), and `grpc-*` (reserved).
 */
export const RESERVED_METADATA = new Set(['connection', 'keep-alive', 'proxy-connection', 'transfer-encoding', 'upgrade', 'te', 'host', 'content-type', 'content-length', 'user-agent']);

/** Whether a header name may be forwarded as metadata. */
export function forwardable(name: string): boolean {
  const n = name.toLowerCase();
  return !RESERVED_METADATA.has(n) && !n.startsWith('grpc-') && !n.startsWith(':');
}

/**
 * The call's metadata: the listed headers as the request-phase policies left them, and
 * `x-request-id` (the request's id when no header carries one). `-bin` headers carry
 * base64 (gRPC over HTTP/2: binary metadata).
 *
 * @example
 *   requestMetadata(ctx, new Set(['traceparent', 'authorization']))
 */
export function requestMetadata(ctx: RequestContext, forward: ReadonlySet<string>): Metadata {
  const md = new (grpcJs().Metadata)();
  const headers = ctx.upstreamHeaders;
  for (let i = 0; i < headers.length; i += 2) {
    const k = headers[i]!.toLowerCase();
    if (!forward.has(k)) continue;
    const v = headers[i + 1]!;
    try {
      if (k.endsWith('-bin')) md.add(k, Buffer.from(v, 'base64'));
      else md.add(k, v);
    } catch {
      // A value gRPC cannot carry (non-ASCII: metadata values are printable ASCII) is dropped.
    }
  }
  if (md.get('x-request-id').length === 0) md.set('x-request-id', ctx.id);
  return md;
}

/**
 * Appends metadata to response headers under `prefix`: `grpc-*` keys (the protocol's own)
 * are skipped, binary values are sent as base64.
 */
export function metadataHeaders(md: Metadata | undefined, prefix: string, out: HeaderList): void {
  if (md === undefined) return;
  const map = md.toJSON();
  for (const k of Object.keys(map)) {
    if (k.startsWith('grpc-') || k === 'content-type') continue;
    for (const v of map[k]!) out.push(prefix + k, typeof v === 'string' ? v : Buffer.from(v).toString('base64'));
  }
}
