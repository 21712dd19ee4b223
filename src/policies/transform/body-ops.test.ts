import { describe, expect, it } from 'vitest';
import type { RequestContext } from '../../pipeline/context.js';
import { applyBodyOps, compileBodyOps, type BodyOpConfig } from './body-ops.js';
import { isJsonType as isJson } from '../../http/headers.js';
import { parsePointer } from './pointer.js';

const ctx = { id: 'req-1', params: { id: '42' }, consumer: { id: 'acme' }, tenant: 't1' } as unknown as RequestContext;
const run = (doc: unknown, ops: BodyOpConfig[]) => JSON.parse(applyBodyOps(Buffer.from(JSON.stringify(doc)), compileBodyOps(ops), ctx).toString()) as unknown;

describe('JSON body operations', () => {
  const cases: { desc: string; doc: unknown; ops: BodyOpConfig[]; want: unknown }[] = [
    { desc: 'set a template value', doc: { a: 1 }, ops: [{ set: '/by', value: '${consumer.id}/${request.id}' }], want: { a: 1, by: 'acme/req-1' } },
    { desc: 'set creates intermediate objects', doc: {}, ops: [{ set: '/meta/tenant', value: '${tenant}' }], want: { meta: { tenant: 't1' } } },
    { desc: 'set a literal', doc: {}, ops: [{ set: '/n', value: { x: [1, 2] } }], want: { n: { x: [1, 2] } } },
    { desc: 'set appends to an array with -', doc: { l: [1] }, ops: [{ set: '/l/-', value: 2 }], want: { l: [1, 2] } },
    { desc: 'set with a param template', doc: {}, ops: [{ set: '/id', value: '${params.id}' }], want: { id: '42' } },
    { desc: 'remove a member', doc: { a: 1, secret: 2 }, ops: [{ remove: '/secret' }], want: { a: 1 } },
    { desc: 'remove an array element', doc: { l: [1, 2, 3] }, ops: [{ remove: '/l/1' }], want: { l: [1, 3] } },
    { desc: 'remove something absent', doc: { a: 1 }, ops: [{ remove: '/b/c' }], want: { a: 1 } },
    { desc: 'rename keeps the value', doc: { user_name: 'x' }, ops: [{ rename: '/user_name', to: 'userName' }], want: { userName: 'x' } },
    { desc: 'rename with escaped pointer', doc: { 'a/b': 1 }, ops: [{ rename: '/a~1b', to: 'ab' }], want: { ab: 1 } },
    { desc: 'move between objects', doc: { a: { b: 1 }, c: {} }, ops: [{ move: '/a/b', to: '/c/d' }], want: { a: {}, c: { d: 1 } } },
    { desc: 'move the root under a key', doc: { a: 1 }, ops: [{ move: '', to: '/x' }], want: { x: { a: 1 } } },
    { desc: 'wrap', doc: [1, 2], ops: [{ wrap: 'data' }], want: { data: [1, 2] } },
    { desc: 'unwrap', doc: { data: { id: 1 }, meta: {} }, ops: [{ unwrap: '/data' }], want: { id: 1 } },
    { desc: 'unwrap absent leaves the body', doc: { a: 1 }, ops: [{ unwrap: '/data' }], want: { a: 1 } },
    { desc: 'operations run in order', doc: { data: { a: 1 } }, ops: [{ unwrap: '/data' }, { set: '/b', value: 2 }, { wrap: 'result' }], want: { result: { a: 1, b: 2 } } },
  ];
  for (const c of cases) it(c.desc, () => expect(run(c.doc, c.ops)).toEqual(c.want));

  it('rejects invalid JSON and bad pointers', () => {
    expect(() => applyBodyOps(Buffer.from('{nope'), compileBodyOps([{ remove: '/a' }]), ctx)).toThrow(SyntaxError);
    expect(() => compileBodyOps([{ remove: 'a' }])).toThrow(/body\[0\].*must start with '\/'/);
    expect(() => compileBodyOps([{ set: '/a', value: '${nope}' }])).toThrow(/unknown template variable/);
    expect(parsePointer('/a~0b/~1')).toEqual(['a~b', '/']);
  });

  it('recognises JSON media types', () => {
    expect(isJson('application/json; charset=utf-8')).toBe(true);
    expect(isJson('application/vnd.api+json')).toBe(true);
    expect(isJson('text/plain')).toBe(false);
    expect(isJson(undefined)).toBe(false);
  });
});
