import { Buffer } from 'node:buffer';
import type * as protobuf from 'protobufjs';
import { protobufJs } from './lazy.js';

/**
 * `google.api.HttpBody` (google/api/httpbody.proto): a message that stands for a raw HTTP
 * body, as grpc-gateway maps it. A request body bound to one (the request message itself with
 * `body: "*"`, or the field `body` names) is not JSON: its bytes become `data` and the request's
 * Content-Type becomes `content_type`. A response that is one (or whose `response_body` field
 * is one) is answered with its `data` bytes and its `content_type` as Content-Type.
 */

const HTTP_BODY = '.google.api.HttpBody';
/** The Content-Type of an HttpBody answer whose `content_type` is empty (RFC 9110 §8.3: unknown bytes). */
export const OCTET_STREAM = 'application/octet-stream';
const EMPTY = Buffer.alloc(0);

/** A decoded HttpBody: what the handler answers with. */
export interface RawBody {
  contentType: string;
  data: Buffer;
}

/** Whether a type (a field's resolved type, a method's message) is google.api.HttpBody. */
export function isHttpBody(t: protobuf.ReflectionObject | null | undefined): t is protobuf.Type {
  return t instanceof protobufJs().Type && t.fullName === HTTP_BODY;
}

/**
 * A response deserializer that yields the raw body: of the message itself (`field` undefined,
 * the response is an HttpBody) or of its HttpBody field `field` (`response_body`). An unset
 * field is an empty body.
 *
 * @example
 *   const read = rawResponse(method.resolvedResponseType!);
 *   read(bytes); // { contentType: 'text/csv', data: <Buffer 61 2c 62> }
 */
export function rawResponse(type: protobuf.Type, field?: protobuf.Field): (bytes: Buffer) => RawBody {
  return function readHttpBody(bytes) {
    const msg = type.decode(bytes) as unknown as Record<string, unknown>;
    const hb = (field === undefined ? msg : msg[field.name]) as { contentType?: string; data?: Uint8Array } | null | undefined;
    const data = hb?.data;
    return {
      contentType: hb?.contentType ?? '',
      data: data === undefined || data.length === 0 ? EMPTY : Buffer.isBuffer(data) ? data : Buffer.from(data.buffer, data.byteOffset, data.byteLength),
    };
  };
}
