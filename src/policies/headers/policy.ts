import { Type, type Static } from '@sinclair/typebox';
import { definePolicy } from '../../pipeline/policy.js';
import { compileTemplate, type Template } from '../../pipeline/template.js';
import { appendHeader, removeHeader, setHeader, type HeaderList } from '../../http/headers.js';
import type { RequestContext } from '../../pipeline/context.js';
import { registerHeaderName } from '../../proxy/undici-names.js';

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

const headerOps = (description: string) =>
  Type.Object(
    {
      set: Type.Record(HeaderName, Type.String(), { default: {}, additionalProperties: false, description: 'Replace (or create) these headers.' }),
      add: Type.Record(HeaderName, Type.String(), { default: {}, additionalProperties: false, description: 'Append these headers, keeping existing values.' }),
      remove: Type.Array(Type.String({ minLength: 1 }), { default: [], description: 'Remove these headers.' }),
    },
    { additionalProperties: false, default: {}, description },
  );

export const schema = Type.Object(
  {
    request: headerOps('Changes to the request headers sent upstream.'),
    response: headerOps('Changes to the response headers sent to the client.'),
  },
  { additionalProperties: false },
);

type Ops = Static<ReturnType<typeof headerOps>>;

/** Lower-cased names and compiled templates, in parallel arrays (indexed loops, no tuple destructuring per request). */
interface CompiledOps {
  remove: string[];
  setNames: string[];
  setValues: Template[];
  addNames: string[];
  addValues: Template[];
}

function compile(ops: Ops): CompiledOps | null {
  const set = Object.entries(ops.set);
  const add = Object.entries(ops.add);
  const c: CompiledOps = {
    remove: ops.remove.map((h) => h.toLowerCase()),
    setNames: set.map(([k]) => k.toLowerCase()),
    setValues: set.map(([, v]) => compileTemplate(v)),
    addNames: add.map(([k]) => k.toLowerCase()),
    addValues: add.map(([, v]) => compileTemplate(v)),
  };
  return c.remove.length + c.setNames.length + c.addNames.length === 0 ? null : c;
}

/** Names the request side sends upstream skip undici's per-request name check (see proxy/undici-names.ts). */
function registerSent(ops: CompiledOps | null): void {
  if (ops !== null) for (const n of [...ops.setNames, ...ops.addNames]) registerHeaderName(n);
}

function apply(list: HeaderList, ops: CompiledOps, ctx: RequestContext): void {
  for (let i = 0; i < ops.remove.length; i++) removeHeader(list, ops.remove[i]!);
  for (let i = 0; i < ops.setNames.length; i++) setHeader(list, ops.setNames[i]!, ops.setValues[i]!(ctx));
  for (let i = 0; i < ops.addNames.length; i++) appendHeader(list, ops.addNames[i]!, ops.addValues[i]!(ctx));
}

export default definePolicy({
  name: 'headers',
  description: 'Adds, sets and removes request and response headers, with templates.',
  schema,
  create(config) {
    const req = compile(config.request);
    registerSent(req);
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
