import { Type, type Static } from '@sinclair/typebox';
import { definePolicy } from '../../pipeline/policy.js';
import { compileTemplate, type Template } from '../../pipeline/template.js';
import { appendHeader, removeHeader, setHeader, type HeaderList } from '../../http/headers.js';
import type { RequestContext } from '../../pipeline/context.js';

/**
 * `headers`: add, set and remove request and response headers. Values are templates
 * (`${request.id}`, `${client.ip}`, `${params.id}`, …; see pipeline/template.ts).
 *
 * @example
 *   - headers:
 *       request:  { set: { x-client-ip: "${client.ip}" }, remove: [cookie] }
 *       response: { add: { x-served-by: gantry }, remove: [server, x-powered-by] }
 */
/** RFC 9110 §5.1 field name (a token); pattern-keyed records need additionalProperties: false to enforce it. */
const HeaderName = Type.String({ pattern: '^[!#$%&\'*+.^_`|~0-9A-Za-z-]+$' });

const HeaderOps = Type.Object(
  {
    set: Type.Record(HeaderName, Type.String(), { default: {}, additionalProperties: false, description: 'Replace (or create) these headers.' }),
    add: Type.Record(HeaderName, Type.String(), { default: {}, additionalProperties: false, description: 'Append these headers, keeping existing values.' }),
    remove: Type.Array(Type.String({ minLength: 1 }), { default: [], description: 'Remove these headers.' }),
  },
  { additionalProperties: false, default: {} },
);

export const schema = Type.Object(
  {
    request: HeaderOps,
    response: HeaderOps,
  },
  { additionalProperties: false },
);

type Ops = Static<typeof HeaderOps>;

interface CompiledOps {
  remove: string[];
  set: [string, Template][];
  add: [string, Template][];
}

function compile(ops: Ops): CompiledOps | null {
  const c: CompiledOps = {
    remove: ops.remove.map((h) => h.toLowerCase()),
    set: Object.entries(ops.set).map(([k, v]) => [k.toLowerCase(), compileTemplate(v)]),
    add: Object.entries(ops.add).map(([k, v]) => [k.toLowerCase(), compileTemplate(v)]),
  };
  return c.remove.length + c.set.length + c.add.length === 0 ? null : c;
}

function apply(list: HeaderList, ops: CompiledOps, ctx: RequestContext): void {
  for (const name of ops.remove) removeHeader(list, name);
  for (const [name, t] of ops.set) setHeader(list, name, t(ctx));
  for (const [name, t] of ops.add) appendHeader(list, name, t(ctx));
}

export default definePolicy({
  name: 'headers',
  description: 'Adds, sets and removes request and response headers, with templates.',
  schema,
  create(config) {
    const req = compile(config.request);
    const res = compile(config.response);
    return {
      request: req
        ? function headersRequest(ctx) {
            apply(ctx.upstreamHeaders, req, ctx);
          }
        : undefined,
      response: res
        ? function headersResponse(ctx, head) {
            apply(head.headers, res, ctx);
          }
        : undefined,
    };
  },
});
