import { describe, expect, it } from 'vitest';
import { parseTemplate } from './annotations.js';

describe('google.api.http path templates → find-my-way patterns', () => {
  it.each([
    ['/v1/books', '/v1/books', []],
    ['/v1/books/{name}', '/v1/books/:p0', [{ field: 'name', parts: [{ p: 'p0' }] }]],
    ['/v1/{name=shelves/*/books/*}', '/v1/shelves/:p0/books/:p1', [{ field: 'name', parts: ['shelves', '/', { p: 'p0' }, '/', 'books', '/', { p: 'p1' }] }]],
    ['/v1/{book.name=shelves/*}/x/{id}', '/v1/shelves/:p0/x/:p1', [{ field: 'book.name', parts: ['shelves', '/', { p: 'p0' }] }, { field: 'id', parts: [{ p: 'p1' }] }]],
    ['/v1/files/{path=**}', '/v1/files/*', [{ field: 'path', parts: [{ p: '*' }] }]],
    ['/v1/*/books', '/v1/:p0/books', []],
    ['/v1/books:search', '/v1/books::search', []],
    ['/v1/{name=books/*}:publish', '/v1/books/:p0(^[^/]+)::publish', [{ field: 'name', parts: ['books', '/', { p: 'p0' }] }]],
  ])('%s → %s', (template, pattern, vars) => {
    expect(parseTemplate(template, 'm')).toEqual({ pattern, vars });
  });

  it.each([
    ['v1/books', 'the path template must start with "/"'],
    ['/v1//books', 'empty path segment'],
    ['/v1/{name', 'unbalanced "{"'],
    ['/v1/name}', 'unbalanced "}"'],
    ['/v1/{a}{b}', 'a variable must be a whole segment'],
    ['/v1/{a=**}/b', '"**" must be the last segment'],
    ['/v1/**:verb', 'a verb cannot follow "**"'],
    ['/v1/{a}/{a}', "the field 'a' is bound twice"],
    ['/v1/{9a}', "'{9a}' does not name a field"],
    ['/v1/a b', "'a b' is not a literal path segment"],
  ])('refuses %s', (template, why) => {
    expect(() => parseTemplate(template, 'M: GET x')).toThrow(`M: GET x: ${why}`);
  });
});
