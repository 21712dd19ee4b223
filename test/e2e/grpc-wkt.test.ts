import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as grpc from '@grpc/grpc-js';
import * as protoLoader from '@grpc/proto-loader';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { httpRequest, startGateway, type TestGateway } from '../helpers.js';
import { bindGrpc } from '../grpc-fixtures.js';

const PROTO = `syntax = "proto3";
package lib.v1;
import "google/protobuf/any.proto";
import "google/protobuf/duration.proto";
import "google/protobuf/empty.proto";
import "google/protobuf/field_mask.proto";
import "google/protobuf/struct.proto";
import "google/protobuf/timestamp.proto";
import "google/protobuf/wrappers.proto";

message Author { string name = 1; google.protobuf.Timestamp born = 2; }
message Book {
  string name = 1;
  google.protobuf.Timestamp published = 2;
  google.protobuf.Duration read_time = 3;
  google.protobuf.StringValue subtitle = 4;
  google.protobuf.Int64Value copies = 5;
  google.protobuf.BoolValue in_print = 6;
  google.protobuf.Struct meta = 7;
  google.protobuf.Value extra = 8;
  google.protobuf.ListValue shelf_tags = 9;
  google.protobuf.FieldMask mask = 10;
  repeated google.protobuf.Any details = 11;
  repeated google.protobuf.Timestamp history = 12;
  map<string, google.protobuf.Duration> limits = 13;
  google.protobuf.NullValue nothing = 14;
  google.protobuf.DoubleValue rating = 15;
  google.protobuf.BytesValue blob = 16;
  google.protobuf.Empty empty = 17;
  Author author = 18;
  string isbn_code = 19 [json_name = "ISBN"];
}
service Library {
  rpc Echo(Book) returns (Book);
  rpc Twice(Book) returns (stream Book);
  rpc Broken(google.protobuf.Empty) returns (Book);
  rpc Now(google.protobuf.Empty) returns (google.protobuf.Timestamp);
}
`;

type Obj = Record<string, unknown>;

/** A real grpc-js server that echoes the Book it is sent (as its own proto-loader decodes it). */
async function startLibrary(protoFile: string) {
  const def = protoLoader.loadSync(protoFile, { longs: String, enums: String, defaults: true });
  const pkg = grpc.loadPackageDefinition(def) as unknown as { lib: { v1: { Library: grpc.ServiceClientConstructor } } };
  const seen: Obj[] = [];
  const server = new grpc.Server();
  server.addService(pkg.lib.v1.Library.service, {
    Echo(call: grpc.ServerUnaryCall<Obj, Obj>, cb: grpc.sendUnaryData<Obj>) {
      seen.push(call.request);
      cb(null, call.request);
    },
    Twice(call: grpc.ServerWritableStream<Obj, Obj>) {
      seen.push(call.request);
      call.write(call.request);
      call.write({ ...call.request, name: 'second' });
      call.end();
    },
    Broken(_call: unknown, cb: grpc.sendUnaryData<Obj>) {
      // Year 10000: a Timestamp with no RFC 3339 form.
      cb(null, { name: 'bad', published: { seconds: '253402300800', nanos: 0 } });
    },
    Now(_call: unknown, cb: grpc.sendUnaryData<Obj>) {
      cb(null, { seconds: '-62135596800', nanos: 1000 });
    },
  });
  const port = await bindGrpc(server);
  return { port, seen, close: () => server.forceShutdown() };
}

/** Well-known types in their proto3 JSON forms, both ways, through a real gateway and a real gRPC server. */
describe('grpc well-known types (proto3 JSON mapping)', () => {
  let backend: Awaited<ReturnType<typeof startLibrary>>;
  let gw: TestGateway;

  beforeAll(async () => {
    const dir = mkdtempSync(join(tmpdir(), 'gantry-grpc-wkt-'));
    writeFileSync(join(dir, 'library.proto'), PROTO);
    backend = await startLibrary(join(dir, 'library.proto'));
    const cfg = `version: 1
listeners: [ { name: public, port: 0, host: 127.0.0.1 } ]
upstreams:
  lib: { targets: [ "http://127.0.0.1:${backend.port}" ] }
routes:
  - name: echo
    match: { path: /v1/echo, methods: [POST] }
    grpc: { upstream: lib, protoFile: ./library.proto, method: lib.v1.Library/Echo }
  - name: echo-query
    match: { path: /v1/books/:name, methods: [GET] }
    grpc: { upstream: lib, protoFile: ./library.proto, method: lib.v1.Library/Echo, body: "" }
  - name: twice
    match: { path: /v1/twice, methods: [POST] }
    grpc: { upstream: lib, protoFile: ./library.proto, method: lib.v1.Library/Twice }
  - name: broken
    match: { path: /v1/broken }
    grpc: { upstream: lib, protoFile: ./library.proto, method: lib.v1.Library/Broken }
  - name: now
    match: { path: /v1/now }
    grpc: { upstream: lib, protoFile: ./library.proto, method: lib.v1.Library/Now }
`;
    gw = await startGateway(cfg, { file: join(dir, 'gateway.yaml') });
  });

  afterAll(async () => {
    await gw?.close();
    backend?.close();
  });

  const post = (path: string, body: unknown) => httpRequest(`${gw.url}${path}`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: typeof body === 'string' ? body : JSON.stringify(body) });

  /** Every field of Book set, in its JSON form; input spellings that are not canonical are in `input` only. */
  const input = {
    name: 'Dune',
    published: '1972-01-01T11:00:20.021+01:00',
    read_time: '-1.5s',
    subtitle: '',
    copies: '9007199254740993',
    inPrint: false,
    meta: { a: [1, 'x', null, true, { b: {} }] },
    extra: null,
    shelfTags: ['sci-fi', 2],
    mask: 'author.born,readTime',
    details: [
      { '@type': 'type.googleapis.com/lib.v1.Author', name: 'Frank', born: '1920-10-08T00:00:00.000000001Z' },
      { '@type': 'type.googleapis.com/google.protobuf.Duration', value: '3600s' },
    ],
    history: ['2000-02-29T23:59:59.5Z', '1970-01-01T00:00:00Z'],
    limits: { read: '0.000001s', loan: '1209600s' },
    nothing: null,
    rating: 'NaN',
    blob: 'AQID',
    empty: {},
    author: { name: 'Frank', born: '1920-10-08T06:30:00-06:30' },
    ISBN: '978-0441013593',
  };
  const output = {
    name: 'Dune',
    published: '1972-01-01T10:00:20.021Z',
    readTime: '-1.500s',
    subtitle: '',
    copies: '9007199254740993',
    inPrint: false,
    meta: { a: [1, 'x', null, true, { b: {} }] },
    extra: null,
    shelfTags: ['sci-fi', 2],
    mask: 'author.born,readTime',
    details: [
      { '@type': 'type.googleapis.com/lib.v1.Author', name: 'Frank', born: '1920-10-08T00:00:00.000000001Z' },
      { '@type': 'type.googleapis.com/google.protobuf.Duration', value: '3600s' },
    ],
    history: ['2000-02-29T23:59:59.500Z', '1970-01-01T00:00:00Z'],
    limits: { read: '0.000001s', loan: '1209600s' },
    nothing: null,
    rating: 'NaN',
    blob: 'AQID',
    empty: {},
    author: { name: 'Frank', born: '1920-10-08T13:00:00Z' },
    ISBN: '978-0441013593',
  };

  it('request JSON → message and message → response JSON, nested, repeated, map and Any occurrences', async () => {
    const res = await post('/v1/echo', input);
    expect(res.status).toBe(200);
    expect(res.json()).toEqual(output);
    // What the backend decoded from the gateway's bytes.
    const got = backend.seen.at(-1)!;
    expect(got.published).toEqual({ seconds: '63108020', nanos: 21000000 });
    expect(got.readTime).toEqual({ seconds: '-1', nanos: -500000000 });
    expect(got.subtitle).toEqual({ value: '' });
    expect(got.copies).toEqual({ value: '9007199254740993' });
    expect(got.inPrint).toEqual({ value: false });
    expect(got.mask).toEqual({ paths: ['author.born', 'read_time'] });
    expect(got.extra).toEqual({ nullValue: 'NULL_VALUE' });
    expect(got.history).toEqual([
      { seconds: '951868799', nanos: 500000000 },
      { seconds: '0', nanos: 0 },
    ]);
    expect(got.limits).toEqual({ read: { seconds: '0', nanos: 1000 }, loan: { seconds: '1209600', nanos: 0 } });
    expect((got.details as Obj[]).map((d) => d.type_url)).toEqual(['type.googleapis.com/lib.v1.Author', 'type.googleapis.com/google.protobuf.Duration']);
    expect(got.author).toEqual({ name: 'Frank', born: { seconds: String(Date.UTC(1920, 9, 8, 13) / 1000), nanos: 0 } });
    // The exact bytes of a few members on the wire.
    expect(res.text).toContain('"published":"1972-01-01T10:00:20.021Z","readTime":"-1.500s"');
    expect(res.text).toContain('"copies":"9007199254740993","inPrint":false');
    // A custom json_name is the key both ways, in its declared place.
    expect(got.isbnCode).toBe('978-0441013593');
    expect(res.text).toMatch(/"author":\{[^}]*\},"ISBN":"978-0441013593"\}$/);
  });

  it('unset well-known types are null; wrappers, Struct and Any accept null as unset', async () => {
    const res = await post('/v1/echo', { name: 'bare', subtitle: null, meta: null, published: null, details: null });
    expect(res.status).toBe(200);
    expect(res.json()).toEqual({
      name: 'bare',
      published: null,
      readTime: null,
      subtitle: null,
      copies: null,
      inPrint: null,
      meta: null,
      extra: null,
      shelfTags: null,
      mask: null,
      details: [],
      history: [],
      limits: {},
      nothing: null,
      rating: null,
      blob: null,
      empty: null,
      author: null,
      ISBN: '',
    });
  });

  it('server streaming: each NDJSON item in JSON form', async () => {
    const res = await post('/v1/twice', { name: 'first', published: '2024-02-29T12:00:00.123456Z', copies: '5', mask: '', isbn_code: 'i' });
    expect(res.status).toBe(200);
    const lines = res.text.trim().split('\n').map((l) => JSON.parse(l) as Obj);
    expect(lines.map((l) => [l.name, l.published, l.copies, l.mask, l.ISBN])).toEqual([
      ['first', '2024-02-29T12:00:00.123456Z', '5', '', 'i'],
      ['second', '2024-02-29T12:00:00.123456Z', '5', '', 'i'],
    ]);
  });

  it('query parameters and path params set Timestamp, Duration, FieldMask and wrapper fields', async () => {
    const q = new URLSearchParams({ published: '2001-09-09T01:46:40Z', read_time: '90s', in_print: 'true', copies: '12', mask: 'name', 'author.born': '1999-12-31T23:59:59.999Z' });
    const res = await httpRequest(`${gw.url}/v1/books/query-1?${q}`);
    expect(res.status).toBe(200);
    expect(res.json()).toMatchObject({ name: 'query-1', published: '2001-09-09T01:46:40Z', readTime: '90s', inPrint: true, copies: '12', mask: 'name', author: { name: '', born: '1999-12-31T23:59:59.999Z' } });
    expect(backend.seen.at(-1)!.published).toEqual({ seconds: '1000000000', nanos: 0 });
  });

  it('a response whose type is a well-known type is its JSON form; 0001-01-01 is in range', async () => {
    const res = await httpRequest(`${gw.url}/v1/now`);
    expect(res.status).toBe(200);
    expect(res.text).toBe('"0001-01-01T00:00:00.000001Z"');
  });

  it('a response value with no JSON form (a Timestamp in year 10000) → 502, not a crash', async () => {
    const res = await httpRequest(`${gw.url}/v1/broken`);
    expect(res.status).toBe(502);
    expect(res.headers['content-type']).toBe('application/problem+json');
    expect(res.json()).toMatchObject({ type: 'https://gantry.dev/problems/upstream-bad-response' });
    expect(res.json().detail).toContain('google.protobuf.Timestamp seconds 253402300800 out of range');
  });

  it.each([
    ['a timestamp that is not RFC 3339', { published: '1972-01-01 10:00:20Z' }, 'request.published: must be an RFC 3339 timestamp'],
    ['a timestamp with no offset', { published: '1972-01-01T10:00:20' }, 'request.published: must be an RFC 3339 timestamp'],
    ['an impossible date', { published: '2001-02-29T00:00:00Z' }, "request.published: '2001-02-29T00:00:00Z' is not a valid date"],
    ['a timestamp before year 1', { published: '0001-01-01T00:00:00+00:01' }, 'request.published: \'0001-01-01T00:00:00+00:01\' is out of range'],
    ['too many fractional digits', { published: '1972-01-01T10:00:20.0123456789Z' }, 'request.published: must be an RFC 3339'],
    ['a timestamp as a number', { published: 63108020 }, 'request.published: must be an RFC 3339'],
    ['a nested timestamp', { author: { born: 'yesterday' } }, 'request.author.born: must be an RFC 3339'],
    ['a repeated timestamp', { history: ['1970-01-01T00:00:00Z', 'x'] }, 'request.history[1]: must be an RFC 3339'],
    ['a duration without unit', { read_time: '1.5' }, 'request.read_time: must be a duration string'],
    ['a duration out of range', { read_time: '315576000001s' }, "request.read_time: '315576000001s' is out of range"],
    ['a map duration', { limits: { x: '1m' } }, 'request.limits.x: must be a duration string'],
    ['a wrapper of the wrong type', { inPrint: 'yes' }, 'request.inPrint: must be true or false'],
    ['an Int64Value out of range', { copies: '9223372036854775808' }, 'request.copies: must be an integer'],
    ['a Struct that is not an object', { meta: [1] }, 'request.meta: must be a JSON object (google.protobuf.Struct)'],
    ['a ListValue that is not an array', { shelfTags: 'a' }, 'request.shelfTags: must be a JSON array'],
    ['a FieldMask path in snake_case', { mask: 'read_time' }, "request.mask: 'read_time' is not a field path of lowerCamelCase names"],
    ['an Any of an unknown type', { details: [{ '@type': 'type.googleapis.com/lib.v1.Nope', name: 'x' }] }, "request.details[0].@type: unknown message type 'type.googleapis.com/lib.v1.Nope'"],
    ['an Any without @type', { details: [{ name: 'x' }] }, 'request.details[0]: must have an "@type"'],
    ['an Any with an unknown field', { details: [{ '@type': 'type.googleapis.com/lib.v1.Author', age: 3 }] }, 'request.details[0].age: unknown field of message lib.v1.Author'],
    ['a NullValue that is not null', { nothing: 0.5 }, 'request.nothing: must be null'],
    ['an Empty with a field', { empty: { a: 1 } }, 'request.empty.a: unknown field of message google.protobuf.Empty'],
  ])('400 for %s, naming the field', async (_what, body, detail) => {
    const before = backend.seen.length;
    const res = await post('/v1/echo', body);
    expect(res.status).toBe(400);
    expect(res.headers['content-type']).toBe('application/problem+json');
    expect(res.json()).toMatchObject({ status: 400, type: 'https://gantry.dev/problems/bad-request' });
    expect(res.json().detail).toContain(detail);
    expect(backend.seen.length).toBe(before);
  });

  it('400 for a bad timestamp in a query parameter', async () => {
    const res = await httpRequest(`${gw.url}/v1/books/q?published=soon`);
    expect(res.status).toBe(400);
    expect(res.json().detail).toContain('request.published: must be an RFC 3339 timestamp');
  });
});
