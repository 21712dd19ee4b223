import { Buffer } from 'node:buffer';
import { Type, type Static } from '@sinclair/typebox';
import type { RequestContext } from '../../pipeline/context.js';
import { compileTemplate } from '../../pipeline/template.js';
import { getAt, parsePointer, removeAt, setAt } from './pointer.js';

/**
 * JSON body operations, applied in order to the parsed body. Paths are JSON Pointers
 * (RFC 6901); string values are templates (`${consumer.id}`, `${request.id}`, …).
 */
const Path = Type.String({ pattern: '^(/.*)?$', description: 'JSON Pointer (RFC 6901), e.g. `/user/id`; empty for the root.' });

export const BodyOp = Type.Union(
  [
    Type.Object(
      {
        set: Path,
        value: Type.Unknown({ description: 'The value: a string is a template (`${consumer.id}`); anything else is used as written.' }),
      },
      { additionalProperties: false, description: 'Set a value, creating missing objects on the way.' },
    ),
    Type.Object({ remove: Path }, { additionalProperties: false, description: 'Remove a member or array element.' }),
    Type.Object(
      { rename: Path, to: Type.String({ minLength: 1, description: 'New member name, same parent.' }) },
      { additionalProperties: false, description: 'Rename a member in place.' },
    ),
    Type.Object({ move: Path, to: Path }, { additionalProperties: false, description: 'Move a value to another pointer.' }),
    Type.Object({ wrap: Type.String({ minLength: 1, description: 'Member name.' }) }, { additionalProperties: false, description: 'Replace the body with `{ <name>: body }`.' }),
    Type.Object({ unwrap: Path }, { additionalProperties: false, description: 'Replace the body with the value at a pointer (absent: left as is).' }),
  ],
  { description: 'One JSON body operation.' },
);

export type BodyOpConfig = Static<typeof BodyOp>;

/** A compiled operation: takes the document, returns the (possibly new) document. */
export type CompiledOp = (doc: unknown, ctx: RequestContext) => unknown;

/** Compiles operations at load; throws with the operation index on a bad pointer or template. */
export function compileBodyOps(ops: readonly BodyOpConfig[]): CompiledOp[] {
  return ops.map((op, i) => {
    try {
      return compileOp(op);
    } catch (e) {
      throw new Error(`body[${i}]: ${(e as Error).message}`);
    }
  });
}

function compileOp(op: BodyOpConfig): CompiledOp {
  if ('set' in op) {
    const p = parsePointer(op.set);
    if (typeof op.value === 'string') {
      const t = compileTemplate(op.value);
      return (doc, ctx) => setAt(doc, p, t(ctx));
    }
    const json = JSON.stringify(op.value ?? null);
    // A fresh copy each time: documents are mutated in place by later operations.
    return (doc) => setAt(doc, p, JSON.parse(json));
  }
  if ('remove' in op) {
    const p = parsePointer(op.remove);
    return (doc) => {
      removeAt(doc, p);
      return doc;
    };
  }
  if ('rename' in op) {
    const p = parsePointer(op.rename);
    if (p.length === 0) throw new Error('cannot rename the root');
    const to = [...p.slice(0, -1), op.to];
    return (doc) => {
      if (getAt(doc, p) === undefined) return doc;
      return setAt(doc, to, removeAt(doc, p));
    };
  }
  if ('move' in op) {
    const from = parsePointer(op.move);
    const to = parsePointer(op.to);
    return (doc) => {
      if (from.length === 0) return setAt({}, to, doc);
      if (getAt(doc, from) === undefined) return doc;
      const v = removeAt(doc, from);
      return setAt(doc, to, v);
    };
  }
  if ('wrap' in op) {
    const name = op.wrap;
    return (doc) => ({ [name]: doc });
  }
  const p = parsePointer(op.unwrap);
  return (doc) => {
    const v = getAt(doc, p);
    return v === undefined ? doc : v;
  };
}

/** Applies compiled operations to a JSON body; throws SyntaxError on invalid JSON. */
export function applyBodyOps(body: Buffer, ops: readonly CompiledOp[], ctx: RequestContext): Buffer {
  let doc: unknown = body.length === 0 ? {} : JSON.parse(body.toString('utf8'));
  for (const op of ops) doc = op(doc, ctx);
  return Buffer.from(JSON.stringify(doc));
}
