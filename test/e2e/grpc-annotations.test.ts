import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as grpc from '@grpc/grpc-js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { httpRequest, startGateway, type TestGateway } from '../helpers.js';
import { PROTOBUFJS_DIR, startRecordingService } from '../grpc-fixtures.js';
import { loadConfig } from '../../src/config/load.js';
import { formatIssue } from '../../src/config/source.js';

const PROTO = `syntax = "proto3";
package lib.v1;
import "google/api/annotations.proto";
import "google/protobuf/empty.proto";
import "google/protobuf/field_mask.proto";
import "google/protobuf/timestamp.proto";

message Book { string name = 1; string title = 2; google.protobuf.Timestamp published = 3; }
message GetBookRequest { string name = 1; bool full = 2; }
message ListBooksRequest { string parent = 1; int32 page_size = 2; }
message ListBooksResponse { repeated Book books = 1; string next_page_token = 2; }
message CreateBookRequest { string parent = 1; Book book = 2; string book_id = 3; }
message UpdateBookRequest { Book book = 1; google.protobuf.FieldMask update_mask = 2; }
message DeleteBookRequest { string name = 1; }
message MoveBookRequest { string name = 1; string other_shelf = 2; }
message WatchRequest { string parent = 1; int32 count = 2; }

service Library {
  rpc GetBook(GetBookRequest) returns (Book) {
    option (google.api.http) = {
      get: "/v1/{name=shelves/*/books/*}"
      additional_bindings { get: "/v1/books/{name}" }
    };
  }
  rpc ListBooks(ListBooksRequest) returns (ListBooksResponse) {
    option (google.api.http) = { get: "/v1/{parent=shelves/*}/books" response_body: "books" };
  }
  rpc CreateBook(CreateBookRequest) returns (Book) {
    option (google.api.http) = { post: "/v1/{parent=shelves/*}/books" body: "book" };
  }
  rpc UpdateBook(UpdateBookRequest) returns (Book) {
    option (google.api.http) = { patch: "/v1/{book.name=shelves/*/books/*}" body: "book" };
  }
  rpc DeleteBook(DeleteBookRequest) returns (google.protobuf.Empty) {
    option (google.api.http).delete = "/v1/{name=shelves/*/books/*}";
  }
  rpc MoveBook(MoveBookRequest) returns (Book) {
    option (google.api.http) = { post: "/v1/{name=shelves/*/books/*}:move" body: "*" };
  }
  rpc Watch(WatchRequest) returns (stream Book) {
    option (google.api.http) = { get: "/v1/{parent=shelves/*}/books:watch" };
  }
  rpc Files(GetBookRequest) returns (Book) {
    option (google.api.http) = { get: "/v1/files/{name=**}" };
  }
  rpc Search(GetBookRequest) returns (Book) {
    option (google.api.http) = { custom: { kind: "SEARCH" path: "/v1/books" } };
  }
  rpc Unbound(GetBookRequest) returns (Book);
}
`;

type Obj = Record<string, unknown>;

function startLibrary(protoFile: string) {
  // The backend finds google/api/*.proto where the gateway does: in protobufjs's package.
  return startRecordingService(protoFile, 'lib.v1.Library', [PROTOBUFJS_DIR], ({ unary, seen }) => ({
    GetBook: unary('GetBook', (r) => ({ name: r.name, title: `full=${String(r.full)}` })),
    ListBooks: unary('ListBooks', (r) => ({ books: Array.from({ length: r.pageSize as number }, (_x, i) => ({ name: `${String(r.parent)}/books/${i}` })), nextPageToken: 'next' })),
    CreateBook: unary('CreateBook', (r) => ({ ...(r.book as Obj), name: `${String(r.parent)}/books/${String(r.bookId)}` })),
    UpdateBook: unary('UpdateBook', (r) => ({ ...(r.book as Obj), title: `${String((r.book as Obj).title)} mask=${((r.updateMask as Obj).paths as string[]).join(',')}` })),
    DeleteBook: unary('DeleteBook', () => ({})),
    MoveBook: unary('MoveBook', (r) => ({ name: `${String(r.otherShelf)}:${String(r.name)}` })),
    Files: unary('Files', (r) => ({ name: r.name })),
    Search: unary('Search', (r) => ({ name: `search:${String(r.name)}` })),
    Unbound: unary('Unbound', () => ({})),
    Watch(call: grpc.ServerWritableStream<Obj, Obj>) {
      seen.push({ method: 'Watch', request: call.request });
      for (let i = 0; i < (call.request.count as number); i++) call.write({ name: `${String(call.request.parent)}/books/${i}`, published: { seconds: String(i), nanos: 0 } });
      call.end();
    },
  }));
}

/** One route serving a whole service from its google.api.http annotations, over real sockets. */
describe('grpc service routes from google.api.http annotations', () => {
  let backend: Awaited<ReturnType<typeof startLibrary>>;
  let gw: TestGateway;

  beforeAll(async () => {
    const dir = mkdtempSync(join(tmpdir(), 'gantry-grpc-http-'));
    writeFileSync(join(dir, 'library.proto'), PROTO);
    backend = await startLibrary(join(dir, 'library.proto'));
    const cfg = `version: 1
listeners: [ { name: public, port: 0, host: 127.0.0.1 } ]
upstreams:
  lib: { targets: [ "http://127.0.0.1:${backend.port}" ] }
routes:
  - name: library
    match: { path: /v1/* }
    grpc: { upstream: lib, protoFile: ./library.proto, service: lib.v1.Library }
`;
    gw = await startGateway(cfg, { file: join(dir, 'gateway.yaml') });
  });

  afterAll(async () => {
    await gw?.close();
    backend?.close();
  });

  const send = (method: string, path: string, body?: unknown) =>
    httpRequest(`${gw.url}${path}`, body === undefined ? { method } : { method, headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
  const last = () => backend.seen.at(-1)!;

  it.each([
    ['GET', '/v1/shelves/s1/books/b1?full=true', undefined, 'GetBook', { name: 'shelves/s1/books/b1', full: true }, { name: 'shelves/s1/books/b1', title: 'full=true', published: null }],
    ['GET', '/v1/books/a%20b', undefined, 'GetBook', { name: 'a b', full: false }, { name: 'a b', title: 'full=false', published: null }],
    ['POST', '/v1/shelves/s1/books?book_id=b9', { title: 'Dune', published: '1965-08-01T00:00:00Z' }, 'CreateBook', { parent: 'shelves/s1', bookId: 'b9', book: { name: '', title: 'Dune', published: { seconds: '-139449600', nanos: 0 } } }, { name: 'shelves/s1/books/b9', title: 'Dune', published: '1965-08-01T00:00:00Z' }],
    ['PATCH', '/v1/shelves/s1/books/b1?update_mask=title', { name: 'ignored', title: 'T' }, 'UpdateBook', { book: { name: 'shelves/s1/books/b1', title: 'T', published: null }, updateMask: { paths: ['title'] } }, { name: 'shelves/s1/books/b1', title: 'T mask=title', published: null }],
    ['DELETE', '/v1/shelves/s1/books/b1', undefined, 'DeleteBook', { name: 'shelves/s1/books/b1' }, {}],
    ['POST', '/v1/shelves/s1/books/b1:move', { name: 'ignored', other_shelf: 's2' }, 'MoveBook', { name: 'shelves/s1/books/b1', otherShelf: 's2' }, { name: 's2:shelves/s1/books/b1', title: '', published: null }],
    ['GET', '/v1/files/a/b/c.txt', undefined, 'Files', { name: 'a/b/c.txt' }, { name: 'a/b/c.txt', title: '', published: null }],
    ['SEARCH', '/v1/books?name=x', undefined, 'Search', { name: 'x' }, { name: 'search:x', title: '', published: null }],
  ])('%s %s → %s', async (verb, path, body, method, request, response) => {
    const res = await send(verb, path, body);
    expect(res.status).toBe(200);
    expect(res.headers['content-type']).toBe('application/json');
    expect(res.json()).toEqual(response);
    expect(last().method).toBe(method);
    expect(last().request).toMatchObject(request);
  });

  it('response_body answers with one field of the response', async () => {
    const res = await send('GET', '/v1/shelves/s7/books?page_size=2');
    expect(res.status).toBe(200);
    expect(res.text).toBe('[{"name":"shelves/s7/books/0","title":"","published":null},{"name":"shelves/s7/books/1","title":"","published":null}]');
  });

  it('a server-streaming binding with a verb streams NDJSON', async () => {
    const res = await send('GET', '/v1/shelves/s3/books:watch?count=2');
    expect(res.status).toBe(200);
    expect(res.headers['content-type']).toBe('application/x-ndjson');
    expect(res.text).toBe('{"name":"shelves/s3/books/0","title":"","published":"1970-01-01T00:00:00Z"}\n{"name":"shelves/s3/books/1","title":"","published":"1970-01-01T00:00:01Z"}\n');
  });

  it('no binding matches → 404 problem+json; the path matches another verb → 405 with Allow', async () => {
    const before = backend.seen.length;
    const missing = await send('GET', '/v1/shelves/s1');
    expect(missing.status).toBe(404);
    expect(missing.headers['content-type']).toBe('application/problem+json');
    expect(missing.json()).toMatchObject({ status: 404, type: 'https://gantry.dev/problems/not-found', detail: 'No google.api.http binding of lib.v1.Library matches GET /v1/shelves/s1.' });
    const verb = await send('PUT', '/v1/shelves/s1/books', {});
    expect(verb.status).toBe(405);
    expect(verb.headers.allow).toBe('GET, HEAD, POST');
    expect(verb.json()).toMatchObject({ status: 405, type: 'https://gantry.dev/problems/method-not-allowed' });
    const unknownVerb = await send('POST', '/v1/shelves/s1/books/b1:burn', {});
    expect(unknownVerb.status).toBe(405);
    expect(unknownVerb.headers.allow).toBe('GET, HEAD, PATCH, DELETE');
    expect(backend.seen.length).toBe(before);
  });

  it('HEAD is served by the GET binding, without a body', async () => {
    const res = await send('HEAD', '/v1/books/h1');
    expect(res.status).toBe(200);
    expect(res.text).toBe('');
    expect(last()).toMatchObject({ method: 'GetBook', request: { name: 'h1' } });
  });

  it('a bad value in the path or body is the usual 400', async () => {
    const res = await send('POST', '/v1/shelves/s1/books', { published: 'soon' });
    expect(res.status).toBe(400);
    expect(res.json().detail).toContain('request.book.published: must be an RFC 3339 timestamp');
  });
});

describe('grpc service route config errors name file:line path', () => {
  let dir: string;
  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), 'gantry-grpc-http-cfg-'));
    writeFileSync(join(dir, 'library.proto'), PROTO);
  });

  const proto = (name: string, rpcs: string) => {
    writeFileSync(
      join(dir, `${name}.proto`),
      `syntax = "proto3";\npackage x;\nimport "google/api/annotations.proto";\nmessage R { string name = 1; string id = 2; repeated string tags = 3; }\nservice S {\n${rpcs}\n}\n`,
    );
    return `./${name}.proto`;
  };
  const errorsOf = async (grpcBlock: string, path = '/v1/*') => {
    const yaml = `version: 1
listeners: [ { name: public, port: 0 } ]
upstreams:
  g: { targets: [ "http://127.0.0.1:1" ] }
routes:
  - name: r
    match: { path: ${path} }
    grpc:
      upstream: g
${grpcBlock}`;
    const r = await loadConfig(join(dir, 'gateway.yaml'), { text: yaml, env: {} });
    return r.ok ? [] : r.issues.filter((i) => i.severity === 'error').map(formatIssue);
  };
  const service = (file: string) => `      protoFile: ${file}\n      service: x.S\n`;

  it.each([
    ['no annotations', () => service(proto('plain', 'rpc A(R) returns (R);')), /gateway\.yaml:11 routes\[0\]\.grpc\.service: service 'x\.S' has no google\.api\.http annotations/],
    ['"**" before the end', () => service(proto('deep', 'rpc A(R) returns (R) { option (google.api.http).get = "/v1/{name=**}/x"; }')), /gateway\.yaml:11 routes\[0\]\.grpc\.service: A: GET \/v1\/\{name=\*\*\}\/x: "\*\*" must be the last segment/],
    ['a verb after "**"', () => service(proto('verb', 'rpc A(R) returns (R) { option (google.api.http).get = "/v1/{name=**}:x"; }')), /gateway\.yaml:11 routes\[0\]\.grpc\.service: A: GET \/v1\/\{name=\*\*\}:x: a verb cannot follow "\*\*"/],
    ['a half-segment variable', () => service(proto('half', 'rpc A(R) returns (R) { option (google.api.http).get = "/v1/a{name}"; }')), /routes\[0\]\.grpc\.service: A: GET \/v1\/a\{name\}: a variable must be a whole segment/],
    ['two bindings of one verb and path', () => service(proto('dup', 'rpc A(R) returns (R) { option (google.api.http).get = "/v1/{name}"; }\nrpc B(R) returns (R) { option (google.api.http).get = "/v1/{id}"; }')), /gateway\.yaml:11 routes\[0\]\.grpc\.service: B: GET \/v1\/\{id\} conflicts with A: GET \/v1\/\{name\}/],
    ['a variable naming no field', () => service(proto('nofield', 'rpc A(R) returns (R) { option (google.api.http).get = "/v1/{nope}"; }')), /gateway\.yaml:11 routes\[0\]\.grpc\.service: GET \/v1\/\{nope\}: the variable 'nope' is not a field of x\.R/],
    ['a variable naming a repeated field', () => service(proto('rep', 'rpc A(R) returns (R) { option (google.api.http).get = "/v1/{tags}"; }')), /routes\[0\]\.grpc\.service: GET \/v1\/\{tags\}: the variable 'tags' sets 'tags', which is not a single scalar/],
    ['a body naming no field', () => service(proto('body', 'rpc A(R) returns (R) { option (google.api.http) = { post: "/v1/a" body: "book" }; }')), /routes\[0\]\.grpc\.service: A: POST \/v1\/a has body "book", which is not a field of x\.R/],
    ['an unknown custom verb', () => service(proto('custom', 'rpc A(R) returns (R) { option (google.api.http) = { custom: { kind: "BREW" path: "/v1/pot" } }; }')), /routes\[0\]\.grpc\.service: A: BREW \/v1\/pot cannot be routed/],
    ['an unknown service', () => '      protoFile: ./library.proto\n      service: lib.v1.Shop\n', /gateway\.yaml:11 routes\[0\]\.grpc\.service: no service 'lib\.v1\.Shop' in \.\/library\.proto \(it declares lib\.v1\.Library\)/],
    ['method and service', () => '      protoFile: ./library.proto\n      service: lib.v1.Library\n      method: lib.v1.Library/GetBook\n', /gateway\.yaml:11 routes\[0\]\.grpc\.service: set method .* or service .*, not both/],
    ['neither method nor service', () => '      protoFile: ./library.proto\n', /gateway\.yaml:8 routes\[0\]\.grpc: set method \(package\.Service\/Method\) or service/],
    ['a body key', () => '      protoFile: ./library.proto\n      service: lib.v1.Library\n      body: book\n', /gateway\.yaml:12 routes\[0\]\.grpc\.body: body does not apply to a service route/],
  ])('%s', async (_what, block, expected) => {
    expect((await errorsOf(block())).join('\n')).toMatch(expected);
  });

  it('a client-streaming method with bindings is a warning; the others are served', async () => {
    const file = proto('upload', 'rpc A(R) returns (R) { option (google.api.http).get = "/v1/a/{name}"; }\nrpc Up(stream R) returns (R) { option (google.api.http).post = "/v1/up"; }');
    const yaml = `version: 1\nlisteners: [ { name: public, port: 0 } ]\nupstreams:\n  g: { targets: [ "http://127.0.0.1:1" ] }\nroutes:\n  - name: r\n    match: { path: /v1/* }\n    grpc:\n      upstream: g\n${service(file)}`;
    const r = await loadConfig(join(dir, 'gateway.yaml'), { text: yaml, env: {} });
    expect(r.ok).toBe(true);
    // Only this warning: the upstream a grpc route calls counts as used.
    if (r.ok) expect(r.loaded.warnings.map(formatIssue)).toEqual([`${join(dir, 'gateway.yaml')}:11 routes[0].grpc.service: warning: x.S.Up streams from the client: its google.api.http bindings are not served`]);
  });

  it('match.path must be a prefix that every binding lies under', async () => {
    const block = '      protoFile: ./library.proto\n      service: lib.v1.Library\n';
    expect((await errorsOf(block, '/v1/books/:id')).join('\n')).toMatch(/gateway\.yaml:7 routes\[0\]\.match\.path: a grpc service route matches a path prefix such as \/v1\/\*/);
    expect((await errorsOf(block, '/v1/shelves/*')).join('\n')).toMatch(/gateway\.yaml:7 routes\[0\]\.match\.path: the binding GET \/v1\/books\/\{name\} is outside \/v1\/shelves\/\*/);
    expect(await errorsOf(block, '/v1/*')).toEqual([]);
    expect(await errorsOf(block, '/*')).toEqual([]);
  });
});
