import { describe, expect, it } from 'vitest';
import { compileTarget } from './template.js';
import { compileWildcardRest } from '../../routing/matchers.js';
import { responseType, GRAPHQL_RESPONSE_TYPE, JSON_TYPE } from './http.js';

describe('graphql path templates', () => {
  const cases: { template: string; parent?: unknown; args?: Record<string, unknown>; params?: Record<string, string>; pattern?: string; path?: string; out: unknown }[] = [
    { template: '/stock/{parent.id}', parent: { id: 7 }, out: { path: '/stock/7', query: '' } },
    { template: '/p/{args.id}', args: { id: '../admin?x=1#f' }, out: { path: '/p/..%2Fadmin%3Fx%3D1%23f', query: '' } },
    { template: '/p/{args.input.id}/{parent.maker.id}', args: { input: { id: 'a b' } }, parent: { maker: { id: true } }, out: { path: '/p/a%20b/true', query: '' } },
    { template: '/t/{params.tenant}/x', params: { tenant: 'acme' }, out: { path: '/t/acme/x', query: '' } },
    // {params.*}: the rest as sent in the path, one encoded value in the query.
    { template: '/f/{params.*}?r={params.*}', pattern: '/g/*', path: '/g/a%2Fb/c', params: { '*': 'a/b/c' }, out: { path: '/f/a%2Fb/c', query: '?r=a%2Fb%2Fc' } },
    { template: '/s?q={args.q}&n={args.n}', args: { q: 'a&b=c' }, out: { path: '/s', query: '?q=a%26b%3Dc&n=' } },
    { template: '/p/{args.id}', args: {}, out: '{args.id} has no value' },
    { template: '/p/{parent.id}', parent: null, out: '{parent.id} has no value' },
    { template: '/p/{args.id}', args: { id: { a: 1 } }, out: '{args.id} is not a string, number or boolean' },
    { template: '/p/{parent.toString}', parent: {}, out: '{parent.toString} has no value' },
  ];
  for (const c of cases) {
    it(`${c.template} with ${JSON.stringify({ ...c.args, ...(c.parent as object) })}`, () => {
      expect(compileTarget(c.template, c.pattern === undefined ? undefined : compileWildcardRest({ path: c.pattern })).fill(c.parent, c.args ?? {}, c.params ?? {}, c.path)).toEqual(c.out);
    });
  }
});

describe('graphql response type negotiation', () => {
  const cases: [string | undefined, string | undefined][] = [
    [undefined, JSON_TYPE],
    ['', JSON_TYPE],
    ['*/*', JSON_TYPE],
    ['application/json', JSON_TYPE],
    ['application/graphql-response+json, application/json;q=0.9', GRAPHQL_RESPONSE_TYPE],
    ['application/json, application/graphql-response+json', GRAPHQL_RESPONSE_TYPE],
    ['application/graphql-response+json;q=0, application/json', JSON_TYPE],
    ['text/html', undefined],
    ['application/json;q=0', undefined],
  ];
  for (const [accept, type] of cases) it(`Accept: ${accept}`, () => expect(responseType(accept)).toBe(type));
});
