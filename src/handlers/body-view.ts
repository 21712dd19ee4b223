import { Buffer, isUtf8 } from 'node:buffer';
import { isJsonType } from '../http/headers.js';

/** How a response body is carried inside a JSON document. */
export interface BodyView {
  /** `json`: `body` is the parsed value; `utf8`: a string; `base64`: the bytes in base64. */
  encoding: 'json' | 'utf8' | 'base64';
  body: unknown;
}

/**
 * A response body as a JSON document can carry it (async job results, batch items): the
 * parsed value when it is JSON, the text when it is UTF-8, else base64. An encoded body
 * (`Content-Encoding` other than identity) is always base64.
 *
 * @example
 *   bodyView('application/json', undefined, Buffer.from('{"a":1}')); // { encoding: 'json', body: { a: 1 } }
 */
export function bodyView(contentType: string | undefined, contentEncoding: string | undefined, body: Buffer): BodyView {
  const plain = contentEncoding === undefined || contentEncoding.toLowerCase() === 'identity';
  if (plain && body.length > 0 && isJsonType(contentType)) {
    try {
      // RFC 8259 §8.1: JSON exchanged between systems is UTF-8.
      return { encoding: 'json', body: JSON.parse(body.toString('utf8')) as unknown };
    } catch {
      // not JSON after all: text or base64 below
    }
  }
  if (plain && isUtf8(body)) return { encoding: 'utf8', body: body.toString('utf8') };
  return { encoding: 'base64', body: body.toString('base64') };
}
