import { Buffer } from 'node:buffer';
import { definePolicy, type ResponseHead } from '../../pipeline/policy.js';
import type { RequestContext } from '../../pipeline/context.js';
import { bufferResponseBody, replaceWithProblem } from '../../pipeline/response-body.js';
import { getHeader, isJsonType, removeHeader, setHeader } from '../../http/headers.js';
import { BuildError } from '../../config/build-error.js';
import { schema } from './schema.js';
import { compileRules, maskDocument, type CompiledRule } from './actions.js';
import { decode, decodersFor } from './decode.js';

/**
 * `mask`: hides sensitive fields in JSON responses (`application/json`, `application/*+json`)
 * before they leave the gateway — `remove`, `redact`, `partial` (keep the last characters)
 * or `hash` — selected by paths such as `user.ssn`, `items[*].card` or `**.password`.
 * Other media types pass untouched and streamed. The policy fails closed: a JSON body it
 * cannot mask (over `maxBodySize`, not valid JSON, in an encoding it cannot decode) is
 * never sent as it is, but answered 502. Compressed bodies (gzip, deflate, br) are decoded,
 * masked and sent unencoded (a `compress` policy after this one encodes them again).
 *
 * @example
 *   - mask:
 *       rules:
 *         - { path: user.ssn, action: redact }
 *         - { path: "items[*].card", action: partial, keep: 4 }
 *         - { path: "**.password", action: remove }
 */
export default definePolicy({
  name: 'mask',
  description: 'Masks sensitive fields of JSON responses: remove, redact, partial, hash.',
  schema,
  create(config) {
    let rules: CompiledRule[];
    try {
      rules = compileRules(config.rules);
    } catch (e) {
      throw new BuildError(['rules', (e as { index: number }).index, 'path'], (e as Error).message);
    }
    const max = config.maxBodySize;
    return {
      response: function maskResponse(ctx: RequestContext, head: ResponseHead) {
        const s = head.status;
        if (s < 200 || s === 204 || s === 304) return;
        const headers = head.headers;
        if (!isJsonType(getHeader(headers, 'content-type'))) return;
        const declared = getHeader(headers, 'content-length');
        if (declared !== undefined && Number(declared) > max && ctx.method !== 'HEAD') {
          replaceWithProblem(ctx, head, 'GW_ERR_UPSTREAM_BAD_RESPONSE', `The upstream response is larger than the ${max} bytes this route masks.`);
          return;
        }
        // The length and validators describe the unmasked body; a HEAD has none to mask.
        removeHeader(headers, 'content-length');
        const etag = getHeader(headers, 'etag');
        // Masking is deterministic, so the upstream's validator still identifies the
        // representation, but no longer byte for byte: weak (RFC 9110 §8.8.1).
        if (etag !== undefined && !etag.startsWith('W/')) setHeader(headers, 'etag', 'W/' + etag);
        removeHeader(headers, 'content-md5');
        removeHeader(headers, 'content-digest');
        removeHeader(headers, 'repr-digest');
        if (ctx.method === 'HEAD') return;
        const coding = getHeader(headers, 'content-encoding');
        const decoders = decodersFor(coding);
        if (decoders === undefined) {
          replaceWithProblem(ctx, head, 'GW_ERR_UPSTREAM_BAD_RESPONSE', `The upstream response is encoded as '${coding}', which the gateway cannot decode to mask.`);
          return;
        }
        if (decoders.length > 0) removeHeader(headers, 'content-encoding');
        const map = (raw: Buffer) => maskBody(decode(raw, decoders, max), rules);
        // Preferred: the head waits for the whole body and goes out with an exact length; a
        // body over `max` is answered 502 (respond.ts). When another policy already wraps the
        // stream, collect it behind that policy instead (cut off when over `max`).
        if (!ctx.mapResponseBody(map, max)) bufferResponseBody(ctx, max, 'mask.maxBodySize', map);
      },
    };
  },
});

/** Parses, masks and serialises a JSON body; throws when it is not JSON (the caller fails closed). */
function maskBody(raw: Buffer, rules: readonly CompiledRule[]): Buffer {
  const doc = JSON.parse(raw.toString('utf8')) as unknown;
  return Buffer.from(JSON.stringify(maskDocument(doc, rules)));
}
