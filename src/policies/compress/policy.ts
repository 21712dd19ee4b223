import zlib from 'node:zlib';
import type { Transform } from 'node:stream';
import { Type } from '@sinclair/typebox';
import { definePolicy, type ResponseHead } from '../../pipeline/policy.js';
import { Size } from '../../config/types.js';
import type { HeaderList } from '../../http/headers.js';
import { negotiator, type Coding } from './negotiate.js';

/**
 * `compress`: gzip / brotli (zstd where Node has it) response compression, negotiated
 * from `Accept-Encoding` q-values (RFC 9110 §12.5.3). Streams through zlib, never
 * buffering the body; `text/event-stream` is flushed after every chunk so events arrive
 * as they are sent. Skips bodies already encoded, partial content (206), tiny bodies,
 * other content types and `Cache-Control: no-transform` (RFC 9110 §7.7).
 *
 * @example
 *   - compress: { encodings: [br, gzip], minSize: 1kb, brotliQuality: 4 }
 */
export const DEFAULT_TYPES = [
  'text/*',
  'application/json',
  'application/*+json',
  'application/javascript',
  'application/xml',
  'application/*+xml',
  'image/svg+xml',
  'application/x-ndjson',
  'application/graphql-response+json',
];

export const schema = Type.Object(
  {
    encodings: Type.Array(Type.Union([Type.Literal('br'), Type.Literal('gzip'), Type.Literal('zstd'), Type.Literal('deflate')]), {
      default: ['br', 'gzip'],
      minItems: 1,
      uniqueItems: true,
      description: 'Codings offered, in server preference order (ties in client q-values go to the first). `zstd` is used only where Node provides it.',
    }),
    minSize: Size({ default: '1kb', description: 'Responses with a smaller Content-Length are sent as is; responses of unknown length are compressed.' }),
    contentTypes: Type.Array(Type.String({ pattern: '^[a-z0-9!#$&^_.+*-]+/[a-z0-9!#$&^_.+*-]+$' }), {
      default: DEFAULT_TYPES,
      minItems: 1,
      description: 'Media types to compress: exact (`application/json`), `type/*`, or structured-suffix wildcards (`application/*+json`).',
    }),
    gzipLevel: Type.Integer({ minimum: 1, maximum: 9, default: 6, description: 'gzip/deflate level (1 fastest … 9 smallest).' }),
    bufferBelow: Size({
      // One synchronous zlib call blocks the event loop: ~0.5 ms for 32 KB of JSON at the
      // default levels, but milliseconds for hundreds of KB (and far more at brotli 11).
      default: '32kb',
      description: 'Bodies with a known Content-Length up to this size are compressed in one piece (no stream per response, exact Content-Length); larger or unknown-length bodies stream.',
    }),
    brotliQuality: Type.Integer({ minimum: 0, maximum: 11, default: 4, description: 'Brotli quality (0 fastest … 11 smallest); 4 suits dynamic responses.' }),
    zstdLevel: Type.Integer({ minimum: 1, maximum: 19, default: 3, description: 'zstd level.' }),
  },
  { additionalProperties: false },
);

/** Compiles a content-type list into a test of the media type (lower case, no parameters). */
export function typeMatcher(types: readonly string[]): (mediaType: string) => boolean {
  const exact = new Set<string>();
  const prefixes: string[] = [];
  const suffixes: [string, string][] = [];
  for (const t of types) {
    const lower = t.toLowerCase();
    if (lower.endsWith('/*')) prefixes.push(lower.slice(0, -1));
    else if (lower.includes('/*+')) {
      const [top, suffix] = lower.split('/*');
      suffixes.push([top + '/', suffix!]);
    } else exact.add(lower);
  }
  return (mt) => {
    if (exact.has(mt)) return true;
    for (const p of prefixes) if (mt.startsWith(p)) return true;
    for (const [top, suffix] of suffixes) if (mt.startsWith(top) && mt.endsWith(suffix)) return true;
    return false;
  };
}

const HAS_ZSTD = typeof (zlib as unknown as { createZstdCompress?: unknown }).createZstdCompress === 'function';

export default definePolicy({
  name: 'compress',
  description: 'gzip/brotli/zstd response compression negotiated from Accept-Encoding; streaming, SSE-aware.',
  schema,
  create(config, deps) {
    const codings = config.encodings.filter((e) => e !== 'zstd' || HAS_ZSTD) as Coding[];
    if (codings.length < config.encodings.length) deps.logger.warn('zstd is not available in this Node version; it is not offered');
    const pick = negotiator(codings);
    const accepts = typeMatcher(config.contentTypes);
    const { minSize, bufferBelow } = config;
    const oneShot: Record<Coding, (body: Buffer) => Buffer> = {
      gzip: (b) => zlib.gzipSync(b, { level: config.gzipLevel, ...windowOptions(b.length) }),
      deflate: (b) => zlib.deflateSync(b, { level: config.gzipLevel, ...windowOptions(b.length) }),
      br: (b) =>
        zlib.brotliCompressSync(b, {
          params: { [zlib.constants.BROTLI_PARAM_QUALITY]: config.brotliQuality, [zlib.constants.BROTLI_PARAM_SIZE_HINT]: b.length },
        }),
      zstd: (b) => {
        const z = zlib as unknown as { zstdCompressSync(b: Buffer, o: object): Buffer; constants: Record<string, number> };
        return z.zstdCompressSync(b, { params: { [z.constants.ZSTD_c_compressionLevel!]: config.zstdLevel } });
      },
    };
    const make = (c: Coding, sse: boolean, length: number): Transform => {
      const w = windowFor(length);
      switch (c) {
        case 'br':
          return zlib.createBrotliCompress({
            params: { [zlib.constants.BROTLI_PARAM_QUALITY]: config.brotliQuality, ...(w ? { [zlib.constants.BROTLI_PARAM_LGWIN]: Math.max(10, w.bits) } : {}) },
            ...(sse ? { flush: zlib.constants.BROTLI_OPERATION_FLUSH } : {}),
          });
        case 'zstd': {
          const z = zlib as unknown as { createZstdCompress(o: object): Transform; constants: Record<string, number> };
          return z.createZstdCompress({ params: { [z.constants.ZSTD_c_compressionLevel!]: config.zstdLevel }, ...(sse ? { flush: z.constants.ZSTD_e_flush } : {}) });
        }
        case 'deflate':
          return zlib.createDeflate({ level: config.gzipLevel, ...(w ? { windowBits: w.bits, memLevel: w.mem } : {}), ...(sse ? { flush: zlib.constants.Z_SYNC_FLUSH } : {}) });
        default:
          return zlib.createGzip({ level: config.gzipLevel, ...(w ? { windowBits: w.bits, memLevel: w.mem } : {}), ...(sse ? { flush: zlib.constants.Z_SYNC_FLUSH } : {}) });
      }
    };
    return {
      response: function compress(ctx, head) {
        const s = head.status;
        if (s < 200 || s === 204 || s === 206 || s === 304) return;
        const h = scan(head.headers);
        if (h.encoded || h.noTransform || h.mediaType === '' || !accepts(h.mediaType)) return;
        // Caches must know the body depends on Accept-Encoding, whoever asked (RFC 9110 §12.5.5).
        addVary(head, h.vary);
        if (h.length >= 0 && h.length < minSize) return;
        const coding = pick(ctx.req.headers['accept-encoding']);
        if (coding === undefined) return;
        applyHeaders(head.headers, coding);
        // HEAD: the headers a GET would get, minus the compressed length (unknown without a body).
        if (ctx.method === 'HEAD') return;
        const sse = h.mediaType === 'text/event-stream';
        const length = h.length;
        // Small and of known length: one synchronous zlib call once the body is in, which
        // costs far less than a zlib stream per response (and keeps Content-Length exact).
        if (!sse && length >= 0 && length <= bufferBelow && ctx.mapResponseBody(oneShot[coding], bufferBelow)) return;
        // A wrapper before this one that fails ends this stream too (respond.ts joins every wrapper).
        ctx.wrapResponseBody((src) => src.pipe(make(coding, sse, length)));
      },
    };
  },
});

/**
 * A compression window no larger than a body of known length needs (as nginx's gzip
 * filter does): the same output for less memory per stream. Undefined for unknown lengths.
 */
function windowFor(length: number): { bits: number; mem: number } | undefined {
  if (length < 0) return undefined;
  let bits = 15;
  let mem = 8;
  while (bits > 9 && length < (1 << (bits - 1)) - 262) {
    bits--;
    mem--;
  }
  return { bits, mem: Math.max(1, mem) };
}

function windowOptions(length: number): { windowBits?: number; memLevel?: number } {
  const w = windowFor(length);
  return w ? { windowBits: w.bits, memLevel: w.mem } : {};
}

interface Scanned {
  mediaType: string;
  length: number;
  encoded: boolean;
  noTransform: boolean;
  /** Index of the first Vary header value, -1 when absent. */
  vary: number;
}

/** One pass over the response headers for everything the decision needs. */
function scan(list: HeaderList): Scanned {
  const r: Scanned = { mediaType: '', length: -1, encoded: false, noTransform: false, vary: -1 };
  for (let i = 0; i < list.length; i += 2) {
    const name = list[i]!;
    const len = name.length;
    if (len !== 4 && len !== 12 && len !== 13 && len !== 14 && len !== 16) continue;
    const lower = name.toLowerCase();
    const v = list[i + 1]!;
    if (lower === 'content-type') {
      const semi = v.indexOf(';');
      r.mediaType = (semi < 0 ? v : v.slice(0, semi)).trim().toLowerCase();
    } else if (lower === 'content-length') r.length = Number(v);
    else if (lower === 'content-encoding') r.encoded ||= v.trim().toLowerCase() !== 'identity';
    else if (lower === 'content-range') r.encoded = true;
    else if (lower === 'cache-control') r.noTransform ||= /(^|[\s,])no-transform($|[\s,])/i.test(v);
    else if (lower === 'vary' && r.vary < 0) r.vary = i + 1;
  }
  return r;
}

function addVary(head: ResponseHead, at: number): void {
  const list = head.headers;
  if (at < 0) {
    list.push('vary', 'Accept-Encoding');
    return;
  }
  for (let i = 0; i < list.length; i += 2) {
    if (list[i]!.toLowerCase() !== 'vary') continue;
    const v = list[i + 1]!;
    if (v.trim() === '*' || /(^|,)\s*accept-encoding\s*(,|$)/i.test(v)) return;
  }
  list[at] = `${list[at]}, Accept-Encoding`;
}

/** Sets Content-Encoding, drops Content-Length (the length changes) and weakens a strong ETag (RFC 9110 §8.8.1). */
function applyHeaders(list: HeaderList, coding: Coding): void {
  for (let i = list.length - 2; i >= 0; i -= 2) {
    const lower = list[i]!.toLowerCase();
    if (lower === 'content-length' || lower === 'content-encoding') list.splice(i, 2);
    else if (lower === 'etag' && !list[i + 1]!.startsWith('W/')) list[i + 1] = 'W/' + list[i + 1]!;
  }
  list.push('content-encoding', coding);
}

