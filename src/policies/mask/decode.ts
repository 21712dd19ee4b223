import { Buffer } from 'node:buffer';
import zlib from 'node:zlib';

/** Decodes one content coding into at most `max` bytes; throws when over or corrupt. */
type Decoder = (body: Buffer, max: number) => Buffer;

/** deflate is the zlib format (RFC 9110 §8.4.1.2); some servers send raw deflate, which is read as well. */
function inflate(body: Buffer, max: number): Buffer {
  try {
    return zlib.inflateSync(body, { maxOutputLength: max });
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ERR_BUFFER_TOO_LARGE') throw e;
    return zlib.inflateRawSync(body, { maxOutputLength: max });
  }
}

const DECODERS: Record<string, Decoder> = {
  gzip: (b, max) => zlib.gunzipSync(b, { maxOutputLength: max }),
  'x-gzip': (b, max) => zlib.gunzipSync(b, { maxOutputLength: max }),
  deflate: inflate,
  br: (b, max) => zlib.brotliDecompressSync(b, { maxOutputLength: max }),
};

/**
 * The decoders for a Content-Encoding value, in the order to apply them (the reverse of
 * the order the codings were applied, RFC 9110 §8.4): `[]` for none or `identity`,
 * undefined when a coding is one this gateway cannot decode (zstd on Node 20, compress).
 *
 * @example
 *   decodersFor('gzip') // [gunzip]
 */
export function decodersFor(contentEncoding: string | undefined): Decoder[] | undefined {
  if (contentEncoding === undefined) return [];
  const out: Decoder[] = [];
  for (const part of contentEncoding.split(',')) {
    const c = part.trim().toLowerCase();
    if (c === '' || c === 'identity') continue;
    const d = DECODERS[c];
    if (d === undefined) return undefined;
    out.unshift(d);
  }
  return out;
}

/** Runs decoders over a body; each output is bounded by `max` (zlib's maxOutputLength). */
export function decode(body: Buffer, decoders: readonly Decoder[], max: number): Buffer {
  let b = body;
  for (const d of decoders) b = d(b, max);
  return b;
}
