import { Type } from '@sinclair/typebox';
import { randomUUID } from 'node:crypto';
import { definePolicy } from '../../pipeline/policy.js';
import { registerHeaderName } from '../../proxy/undici-names.js';

/**
 * `request-id`: gives every request a correlation id, forwards it upstream and returns it
 * to the client. An incoming id is kept when trusted and well-formed (it ends up in logs
 * and headers, so anything outside a safe alphabet is replaced, never echoed).
 *
 * @example
 *   policies:
 *     - request-id: { header: X-Request-Id, trustIncoming: true }
 */
export const schema = Type.Object(
  {
    header: Type.String({ default: 'X-Request-Id', pattern: '^[A-Za-z0-9-]+$', description: 'Header carrying the id, in and out.' }),
    trustIncoming: Type.Boolean({ default: true, description: 'Keep a well-formed id sent by the client instead of generating one.' }),
    response: Type.Boolean({ default: true, description: 'Return the id in the response header.' }),
    maxLength: Type.Integer({ minimum: 8, maximum: 1024, default: 200, description: 'Longest incoming id accepted.' }),
  },
  { additionalProperties: false },
);

const SAFE = /^[A-Za-z0-9._:@/+=-]+$/;

export default definePolicy({
  name: 'request-id',
  description: 'Correlation id: kept or generated, forwarded upstream, returned to the client.',
  schema,
  create(config) {
    const lower = config.header.toLowerCase();
    registerHeaderName(lower);
    const { trustIncoming, response, maxLength } = config;
    return {
      request: function requestId(ctx) {
        let id: string | undefined;
        if (trustIncoming) {
          const incoming = ctx.req.headers[lower];
          if (typeof incoming === 'string' && incoming.length <= maxLength && SAFE.test(incoming)) id = incoming;
        }
        id ??= randomUUID();
        ctx.id = id;
        ctx.setRequestHeader(lower, id);
        if (response) ctx.addResponseHeader(lower, id);
      },
    };
  },
});
