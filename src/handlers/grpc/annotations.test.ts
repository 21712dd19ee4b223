import { describe, expect, it } from 'vitest';
import { multiSegment, parseTemplate } from './annotations.js';

describe('google.api.http path templates → find-my-way patterns', () => {
  it.each([
    ['/v1/books', '/v1/books', []],
    ['/v1/books/{name}', '/v1/books/:p0', [{ field: 'name', parts: [{ p: 'p0' }] }]],
    ['/v1/{name=shelves/*/books/*}', '/v1/shelves/:p0/books/:p1', [{ field: 'name', parts: ['shelves', '/', { p: 'p0' }, '/', 'books', '/', { p: 'p1' }] }]],
    ['/v1/{book.name=shelves/*}/x/{id}', '/v1/shelves/:p0/x/:p1', [{ field: 'book.name', parts: ['shelves', '/', { p: 'p0' }] }, { field: 'id', parts: [{ p: 'p1' }] }]],
    ['/v1/files/{path=**}', '/v1/files/*', [{ field: 'path', parts: [{ tail: 2 }] }]],
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

describe('the value of a trailing "**": reserved escapes kept, the others decoded (grpc-gateway AllExceptReserved)', () => {
  it.each([
    ['plain segments', '/v1/files/a/b.txt', 2, 'a/b.txt'],
    ['%2F stays an escape, not a separator', '/v1/files/a%2Fb/c', 2, 'a%2Fb/c'],
    ['every RFC 6570 reserved escape is kept as sent', '/v1/f/%21%23%24%26%27%28%29%2A%2B%2C%2f%3A%3B%3D%3F%40%5B%5D', 2, '%21%23%24%26%27%28%29%2A%2B%2C%2f%3A%3B%3D%3F%40%5B%5D'],
    ['other escapes are decoded', '/v1/f/a%20b/%C3%A9%22', 2, 'a b/\u00e9"'],
    ['mixed in one run', '/v1/f/%20%2F%20', 2, ' %2F '],
    ['nothing after the prefix', '/v1/files', 2, ''],
    ['an empty tail', '/v1/files/', 2, ''],
  ])('%s', (_what, path, tail, value) => {
    expect(multiSegment(path, tail)).toBe(value);
  });
});
