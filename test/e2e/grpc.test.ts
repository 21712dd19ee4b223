import http from 'node:http';
import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as grpc from '@grpc/grpc-js';
import * as protoLoader from '@grpc/proto-loader';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { eventually, freePort, httpRequest, startGateway, type TestGateway } from '../helpers.js';
import { bindGrpc } from '../grpc-fixtures.js';
import { loadConfig } from '../../src/config/load.js';
import { issue, makeCa } from '../tls-fixtures.js';
import { formatIssue } from '../../src/config/source.js';

const PROTO = `syntax = "proto3";
package shop.users.v1;

enum Role { ROLE_UNSPECIFIED = 0; ADMIN = 1; MEMBER = 2; }
message Address { string city = 1; string zip_code = 2; }
message User {
  string id = 1;
  string display_name = 2;
  int64 balance = 3;
  Role role = 4;
  Address address = 5;
  repeated string tags = 6;
}
message GetUserRequest {
  string id = 1;
  bool verbose = 2;
  Role role = 3;
  repeated string tags = 4;
  Address address = 5;
  int32 page_size = 6;
}
message CreateUserRequest { string org = 1; User user = 2; }
message FailRequest { int32 code = 1; string message = 2; }
message ListUsersRequest { int32 count = 1; bool fail = 2; }

service Users {
  rpc GetUser(GetUserRequest) returns (User);
  rpc CreateUser(CreateUserRequest) returns (User);
  rpc Fail(FailRequest) returns (User);
  rpc Hang(GetUserRequest) returns (User);
  rpc ListUsers(ListUsersRequest) returns (stream User);
  rpc Upload(stream User) returns (User);
}
`;

type Obj = Record<string, unknown>;

/** A real @grpc/grpc-js server for the test proto; records what it was sent. */
async function startGrpcServer(protoFile: string, creds = grpc.ServerCredentials.createInsecure()) {
  const def = protoLoader.loadSync(protoFile, { longs: String, enums: String, defaults: true });
  const pkg = grpc.loadPackageDefinition(def) as unknown as { shop: { users: { v1: { Users: grpc.ServiceClientConstructor } } } };
  const seen: { method: string; request: Obj; metadata: Obj }[] = [];
  const cancelled: string[] = [];
  const record = (method: string, call: { request: Obj; metadata: grpc.Metadata }) => seen.push({ method, request: call.request, metadata: call.metadata.getMap() });
  const server = new grpc.Server();
  server.addService(pkg.shop.users.v1.Users.service, {
    GetUser(call: grpc.ServerUnaryCall<Obj, Obj>, cb: grpc.sendUnaryData<Obj>) {
      record('GetUser', call);
      const r = call.request;
      if (r.id === 'missing') return cb({ code: grpc.status.NOT_FOUND, details: `user ${String(r.id)} not found` });
      const head = new grpc.Metadata();
      head.set('x-served-by', 'users-1');
      call.sendMetadata(head);
      const trailer = new grpc.Metadata();
      trailer.set('x-cost', '7');
      const addr = r.address as Obj | null;
      cb(
        null,
        {
          id: r.id,
          displayName: `verbose=${String(r.verbose)} role=${String(r.role)} tags=${(r.tags as string[]).join(',')} city=${addr ? String(addr.city) : '-'} page=${String(r.pageSize)}`,
          balance: '9007199254740993',
          role: 'ADMIN',
          address: { city: 'Oslo', zipCode: '0150' },
          tags: ['x'],
        },
        trailer,
      );
    },
    CreateUser(call: grpc.ServerUnaryCall<Obj, Obj>, cb: grpc.sendUnaryData<Obj>) {
      record('CreateUser', call);
      const u = (call.request.user ?? {}) as Obj;
      cb(null, { ...u, id: `${String(call.request.org)}-${String(u.displayName)}` });
    },
    Fail(call: grpc.ServerUnaryCall<Obj, Obj>, cb: grpc.sendUnaryData<Obj>) {
      record('Fail', call);
      cb({ code: call.request.code as number, details: String(call.request.message) });
    },
    Hang(call: grpc.ServerUnaryCall<Obj, Obj>) {
      record('Hang', call);
      call.on('cancelled', () => cancelled.push(String(call.request.id)));
    },
    ListUsers(call: grpc.ServerWritableStream<Obj, Obj>) {
      record('ListUsers', call);
      const n = call.request.count as number;
      // 99: one message, then never ends (the route's deadline passes mid-stream).
      if (n === 99) return void call.write({ id: 'u0', balance: '0', role: 'MEMBER' });
      for (let i = 0; i < n; i++) call.write({ id: `u${i}`, balance: String(i), role: 'MEMBER' });
      if (call.request.fail) call.emit('error', { code: grpc.status.INTERNAL, details: 'list broke' });
      else call.end();
    },
    Upload(_call: unknown, cb: grpc.sendUnaryData<Obj>) {
      cb(null, {});
    },
  });
  const port = await bindGrpc(server, creds);
  return { port, seen, cancelled, close: () => server.forceShutdown() };
}

/** `grpc:` routes over real sockets: a real gRPC server behind the gateway, REST in front. */
describe('grpc transcoding', () => {
  let dir: string;
  let backend: Awaited<ReturnType<typeof startGrpcServer>>;
  let gw: TestGateway;

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'gantry-grpc-'));
    writeFileSync(join(dir, 'users.proto'), PROTO);
    backend = await startGrpcServer(join(dir, 'users.proto'));
    const down = await freePort();
    const cfg = `version: 1
listeners: [ { name: public, port: 0, host: 127.0.0.1 } ]
upstreams:
  users-grpc: { targets: [ "http://127.0.0.1:${backend.port}" ] }
  down-grpc: { targets: [ "http://127.0.0.1:${down}" ] }
routes:
  - name: get-user
    match: { path: /v1/users/:id, methods: [GET] }
    grpc: { upstream: users-grpc, protoFile: ./users.proto, method: shop.users.v1.Users/GetUser, forwardHeaders: [authorization, x-tenant] }
  - name: get-user-star
    match: { path: /v1/users/:id, methods: [POST] }
    grpc: { upstream: users-grpc, protoFile: ./users.proto, method: shop.users.v1.Users/GetUser }
  - name: create-user
    match: { path: /v1/orgs/:org/users, methods: [POST] }
    grpc: { upstream: users-grpc, protoFile: ./users.proto, method: shop.users.v1.Users/CreateUser, body: user }
  - name: fail
    match: { path: /v1/fail, methods: [POST] }
    grpc: { upstream: users-grpc, protoFile: ./users.proto, method: shop.users.v1.Users/Fail }
  - name: slow
    match: { path: /v1/slow/:id }
    grpc: { upstream: users-grpc, protoFile: ./users.proto, method: shop.users.v1.Users/Hang, timeout: 300ms }
  - name: hang
    match: { path: /v1/hang/:id }
    grpc: { upstream: users-grpc, protoFile: ./users.proto, method: shop.users.v1.Users/Hang }
  - name: list
    match: { path: /v1/users, methods: [GET] }
    grpc: { upstream: users-grpc, protoFile: ./users.proto, method: shop.users.v1.Users/ListUsers }
  - name: list-slow
    match: { path: /v1/slow-users, methods: [GET] }
    grpc: { upstream: users-grpc, protoFile: ./users.proto, method: shop.users.v1.Users/ListUsers, timeout: 300ms }
  - name: down
    match: { path: /v1/down/:id }
    grpc: { upstream: down-grpc, protoFile: ./users.proto, method: shop.users.v1.Users/GetUser }
`;
    gw = await startGateway(cfg, { file: join(dir, 'gateway.yaml') });
  });

  afterAll(async () => {
    await gw?.close();
    backend?.close();
  });

  const last = (method: string) => backend.seen.filter((s) => s.method === method).at(-1)!;

  it('GET with a path param and query parameters (nested, repeated, enum, bool, int32) → 200 JSON', async () => {
    const res = await httpRequest(`${gw.url}/v1/users/42?verbose=true&role=MEMBER&tags=a&tags=b&address.city=Bergen&page_size=20`);
    expect(res.status).toBe(200);
    expect(res.headers['content-type']).toBe('application/json');
    const body = res.json();
    expect(body.id).toBe('42');
    expect(body.displayName).toBe('verbose=true role=MEMBER tags=a,b city=Bergen page=20');
    // proto3 JSON: int64 as a decimal string (exact past 2^53), enums by name, nested messages, lowerCamelCase names.
    expect(body.balance).toBe('9007199254740993');
    expect(body.role).toBe('ADMIN');
    expect(body.address).toEqual({ city: 'Oslo', zipCode: '0150' });
    expect(body.tags).toEqual(['x']);
    // Initial metadata and trailers come back as prefixed headers.
    expect(res.headers['grpc-metadata-x-served-by']).toBe('users-1');
    expect(res.headers['grpc-trailer-x-cost']).toBe('7');
  });

  it('POST with body "*": the JSON body is the message, the path param wins over it', async () => {
    const res = await httpRequest(`${gw.url}/v1/users/7`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ id: 'ignored', verbose: true, role: 2, tags: ['p'], address: { city: 'Tromsø', zip_code: '9008' }, pageSize: '5' }),
    });
    expect(res.status).toBe(200);
    expect(res.json().displayName).toBe('verbose=true role=MEMBER tags=p city=Tromsø page=5');
    expect(last('GetUser').request).toMatchObject({ id: '7', address: { city: 'Tromsø', zipCode: '9008' }, pageSize: 5 });
  });

  it('POST with body: <field>: the body is that field; int64 in and out exactly, enum by number', async () => {
    const res = await httpRequest(`${gw.url}/v1/orgs/acme/users`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ display_name: 'Ada', balance: '-9223372036854775808', role: 1, address: { city: 'London' } }),
    });
    expect(res.status).toBe(200);
    expect(res.json()).toMatchObject({ id: 'acme-Ada', displayName: 'Ada', balance: '-9223372036854775808', role: 'ADMIN', address: { city: 'London', zipCode: '' } });
    expect(last('CreateUser').request).toMatchObject({ org: 'acme', user: { displayName: 'Ada', balance: '-9223372036854775808' } });
  });

  it.each([
    ['malformed JSON', '/v1/users/1', '{"verbose": tru', 'not valid JSON'],
    ['an unknown body field', '/v1/users/1', '{"nickname": "x"}', 'request.nickname: unknown field'],
    ['a string for a bool', '/v1/users/1', '{"verbose": "yes"}', 'request.verbose: must be true or false'],
    ['an int64 that is not a number', '/v1/orgs/a/users', '{"balance": "12abc"}', 'request.user.balance: must be an integer'],
    ['an int64 out of range', '/v1/orgs/a/users', '{"balance": "9223372036854775808"}', 'must be an integer'],
    ['an unknown enum name', '/v1/users/1', '{"role": "OWNER"}', 'must be one of ROLE_UNSPECIFIED, ADMIN, MEMBER'],
    ['an array for a message', '/v1/users/1', '[]', 'must be a JSON object'],
    ['an int32 out of range', '/v1/users/1', '{"page_size": 3000000000}', 'request.page_size: must be an integer'],
  ])('400 for %s', async (_what, path, body, detail) => {
    const before = backend.seen.length;
    const res = await httpRequest(`${gw.url}${path}`, { method: 'POST', headers: { 'content-type': 'application/json' }, body });
    expect(res.status).toBe(400);
    expect(res.headers['content-type']).toBe('application/problem+json');
    expect(res.json().detail).toContain(detail);
    expect(backend.seen.length).toBe(before);
  });

  it('400 for an unknown query parameter, a bad bool in the query and a non-JSON body', async () => {
    const unknown = await httpRequest(`${gw.url}/v1/users/1?nope=1`);
    expect(unknown.status).toBe(400);
    expect(unknown.json().detail).toContain("no field 'nope'");
    const bool = await httpRequest(`${gw.url}/v1/users/1?verbose=maybe`);
    expect(bool.status).toBe(400);
    const form = await httpRequest(`${gw.url}/v1/users/1`, { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: 'a=b' });
    expect(form.status).toBe(400);
    expect(form.json().detail).toContain('application/json');
  });

  it.each([
    [grpc.status.NOT_FOUND, 404, 'NOT_FOUND'],
    [grpc.status.INVALID_ARGUMENT, 400, 'INVALID_ARGUMENT'],
    [grpc.status.UNAUTHENTICATED, 401, 'UNAUTHENTICATED'],
    [grpc.status.PERMISSION_DENIED, 403, 'PERMISSION_DENIED'],
    [grpc.status.UNAVAILABLE, 503, 'UNAVAILABLE'],
    [grpc.status.DEADLINE_EXCEEDED, 504, 'DEADLINE_EXCEEDED'],
    [grpc.status.RESOURCE_EXHAUSTED, 429, 'RESOURCE_EXHAUSTED'],
    [grpc.status.UNIMPLEMENTED, 501, 'UNIMPLEMENTED'],
    [grpc.status.INTERNAL, 500, 'INTERNAL'],
    [grpc.status.ALREADY_EXISTS, 409, 'ALREADY_EXISTS'],
    [grpc.status.FAILED_PRECONDITION, 400, 'FAILED_PRECONDITION'],
    [grpc.status.ABORTED, 409, 'ABORTED'],
  ])('gRPC status %i → HTTP %i as problem+json', async (code, http, name) => {
    const res = await httpRequest(`${gw.url}/v1/fail`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ code, message: `failed with ${name}` }) });
    expect(res.status).toBe(http);
    expect(res.headers['content-type']).toBe('application/problem+json');
    expect(res.json()).toMatchObject({ status: http, detail: `failed with ${name}`, grpcCode: code, grpcStatus: name, title: `gRPC status ${name}` });
  });

  it('a NOT_FOUND from a real lookup → 404', async () => {
    const res = await httpRequest(`${gw.url}/v1/users/missing`);
    expect(res.status).toBe(404);
    expect(res.json()).toMatchObject({ grpcStatus: 'NOT_FOUND', detail: 'user missing not found' });
  });

  it('the route timeout is the deadline → 504, and the backend sees the call cancelled', async () => {
    const res = await httpRequest(`${gw.url}/v1/slow/deadline-1`);
    expect(res.status).toBe(504);
    expect(res.json()).toMatchObject({ grpcStatus: 'DEADLINE_EXCEEDED' });
    await eventually(() => (backend.cancelled.includes('deadline-1') ? true : undefined), 5000, 'the backend to see the deadline');
  });

  it('a backend that is down → 502', async () => {
    const res = await httpRequest(`${gw.url}/v1/down/1`);
    expect(res.status).toBe(502);
    expect(res.json()).toMatchObject({ type: 'https://gantry.dev/problems/upstream-unavailable' });
  });

  it('a client that goes away cancels the call on the backend', async () => {
    const req = http.request(`${gw.url}/v1/hang/abort-1`, { agent: false });
    req.on('error', () => {});
    req.end();
    await eventually(() => (backend.seen.some((s) => s.method === 'Hang' && s.request.id === 'abort-1') ? true : undefined), 5000, 'the call to arrive');
    expect(backend.cancelled).not.toContain('abort-1');
    req.destroy();
    await eventually(() => (backend.cancelled.includes('abort-1') ? true : undefined), 5000, 'the backend to see the cancellation');
  });

  it('forwards the allow-listed headers, x-request-id and traceparent as metadata, and nothing else', async () => {
    const traceparent = '00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01';
    const res = await httpRequest(`${gw.url}/v1/users/md-1`, {
      headers: { authorization: 'Bearer t0k', 'x-tenant': 'acme', 'x-secret': 'no', 'x-request-id': 'req-123', traceparent },
    });
    expect(res.status).toBe(200);
    const md = last('GetUser').metadata;
    expect(md).toMatchObject({ authorization: 'Bearer t0k', 'x-tenant': 'acme', 'x-request-id': 'req-123', traceparent });
    expect(md['x-secret']).toBeUndefined();
    // Without a client id, the request's own id is sent.
    await httpRequest(`${gw.url}/v1/users/md-2`);
    expect(String(last('GetUser').metadata['x-request-id'])).toMatch(/^[0-9a-f-]{36}$/);
  });

  it('server streaming → NDJSON, and a failure after the first message is a last error line', async () => {
    const ok = await httpRequest(`${gw.url}/v1/users?count=3`);
    expect(ok.status).toBe(200);
    expect(ok.headers['content-type']).toBe('application/x-ndjson');
    const lines = ok.text.trim().split('\n').map((l) => JSON.parse(l) as Obj);
    expect(lines.map((l) => [l.id, l.balance, l.role])).toEqual([
      ['u0', '0', 'MEMBER'],
      ['u1', '1', 'MEMBER'],
      ['u2', '2', 'MEMBER'],
    ]);
    const broken = await httpRequest(`${gw.url}/v1/users?count=2&fail=true`);
    expect(broken.status).toBe(200);
    const out = broken.text.trim().split('\n').map((l) => JSON.parse(l) as Obj);
    expect(out).toHaveLength(3);
    expect(out[2]).toEqual({ error: { code: 13, status: 'INTERNAL', message: 'list broke' } });
    // The body ends cleanly, but the access log records the status the server sent (a clean stream has no error).
    const [okLine, brokenLine] = await eventually(() => {
      const lines = gw.logs.filter((l) => l.msg === 'request' && l.path === '/v1/users');
      return lines.length >= 2 ? lines : undefined;
    }, 3000, 'the access-log lines');
    expect(okLine).toMatchObject({ status: 200, bytesOut: ok.text.length });
    expect(okLine!.error).toBeUndefined();
    expect(brokenLine).toMatchObject({ status: 200, error: 'GW_ERR_GRPC_INTERNAL', bytesOut: broken.text.length });
    expect(brokenLine!.aborted).not.toBe(true);
    // The deadline passing mid-stream: the same clean end with an error line, logged as a timeout.
    const slow = await httpRequest(`${gw.url}/v1/slow-users?count=99`);
    expect(slow.status).toBe(200);
    expect(slow.text.trim().split('\n').map((l) => JSON.parse(l) as Obj)[1]).toMatchObject({ error: { code: 4, status: 'DEADLINE_EXCEEDED' } });
    const slowLine = await eventually(() => gw.logs.find((l) => l.msg === 'request' && l.path === '/v1/slow-users'), 3000, 'the access-log line');
    expect(slowLine).toMatchObject({ status: 200, error: 'GW_ERR_UPSTREAM_TIMEOUT' });
    const early = await httpRequest(`${gw.url}/v1/users?count=0&fail=true`);
    expect(early.status).toBe(500);
    expect(early.json()).toMatchObject({ grpcStatus: 'INTERNAL' });
  });
});

describe('grpc over TLS (https:// targets)', () => {
  let backend: Awaited<ReturnType<typeof startGrpcServer>>;
  let gw: TestGateway;

  beforeAll(async () => {
    const dir = mkdtempSync(join(tmpdir(), 'gantry-grpc-tls-'));
    writeFileSync(join(dir, 'users.proto'), PROTO);
    const ca = await makeCa('grpc test CA');
    const leaf = await issue(ca, { cn: 'users.internal', usage: 'server', dns: ['users.internal'] });
    writeFileSync(join(dir, 'ca.pem'), ca.cert);
    backend = await startGrpcServer(join(dir, 'users.proto'), grpc.ServerCredentials.createSsl(null, [{ private_key: Buffer.from(leaf.key), cert_chain: Buffer.from(leaf.cert) }]));
    const cfg = `version: 1
listeners: [ { name: public, port: 0, host: 127.0.0.1 } ]
upstreams:
  users-tls: { targets: [ "https://127.0.0.1:${backend.port}" ] }
routes:
  - name: trusted
    match: { path: /trusted/:id }
    grpc: { upstream: users-tls, protoFile: ./users.proto, method: shop.users.v1.Users/GetUser, tls: { ca: ./ca.pem, serverName: users.internal } }
  - name: untrusted
    match: { path: /untrusted/:id }
    grpc: { upstream: users-tls, protoFile: ./users.proto, method: shop.users.v1.Users/GetUser }
`;
    gw = await startGateway(cfg, { file: join(dir, 'gateway.yaml') });
  });

  afterAll(async () => {
    await gw?.close();
    backend?.close();
  });

  it('calls a TLS target whose certificate the configured CA signs', async () => {
    const res = await httpRequest(`${gw.url}/trusted/t1`);
    expect(res.status).toBe(200);
    expect(res.json().id).toBe('t1');
  });

  it('refuses a target certificate the system roots do not trust → 502, the backend never called', async () => {
    const before = backend.seen.length;
    const res = await httpRequest(`${gw.url}/untrusted/t2`);
    expect(res.status).toBe(502);
    expect(backend.seen.length).toBe(before);
  });
});

describe('grpc config errors name file:line path', () => {
  let dir: string;
  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), 'gantry-grpc-cfg-'));
    writeFileSync(join(dir, 'users.proto'), PROTO);
    writeFileSync(join(dir, 'broken.proto'), 'syntax = "proto3";\nmessage A { string x = 1 }\n');
    writeFileSync(join(dir, 'imports-broken.proto'), 'syntax = "proto3";\npackage a;\nimport "broken.proto";\nmessage B { string y = 1; }\n');
    writeFileSync(join(dir, 'unclosed.proto'), 'syntax = "proto3";\nmessage A {\n  string x = 1;\n');
    writeFileSync(join(dir, 'duplicate.proto'), 'syntax = "proto3";\nmessage A {\n  string x = 1;\n  string x = 2;\n}\n');
    // Types no proto declares: in the route's proto (a field, an rpc's request and response) and in an import.
    writeFileSync(join(dir, 'untyped.proto'), 'syntax = "proto3";\npackage u;\nimport "untyped-dep.proto";\nmessage Req { string id = 1; Nope x = 2; }\nservice S { rpc M(Reqq) returns (dep.Res); rpc N(Req) returns (dep.Gone); }\n');
    writeFileSync(join(dir, 'untyped-dep.proto'), 'syntax = "proto3";\npackage dep;\nmessage Res { map<string, Missing> m = 1; }\n');
  });

  const errorsOf = async (route: string, upstream = '{ targets: [ "http://127.0.0.1:1" ] }') => {
    const yaml = `version: 1
listeners: [ { name: public, port: 0 } ]
upstreams:
  g: ${upstream}
routes:
  - name: r
${route}`;
    const r = await loadConfig(join(dir, 'gateway.yaml'), { text: yaml, env: {} });
    return r.ok ? [] : r.issues.filter((i) => i.severity === 'error').map(formatIssue);
  };

  it.each([
    ['a missing proto file', '    match: { path: /a }\n    grpc: { upstream: g, protoFile: ./nope.proto, method: a.B/C }', /gateway\.yaml:8 routes\[0\]\.grpc\.protoFile: cannot read nope\.proto \(no such file or directory\)$/],
    ['a proto that does not parse: its file and line', '    match: { path: /a }\n    grpc: { upstream: g, protoFile: ./broken.proto, method: a.B/C }', /gateway\.yaml:8 routes\[0\]\.grpc\.protoFile: cannot load broken\.proto: illegal token '\}', ';' expected \(broken\.proto, line 2\)$/],
    ['an imported proto that does not parse: its file and line', '    match: { path: /a }\n    grpc: { upstream: g, protoFile: ./imports-broken.proto, method: a.B/C }', /gateway\.yaml:8 routes\[0\]\.grpc\.protoFile: cannot load imports-broken\.proto: illegal token '\}', ';' expected \(broken\.proto, line 2\)$/],
    ['a proto that ends inside a block', '    match: { path: /a }\n    grpc: { upstream: g, protoFile: ./unclosed.proto, method: a.B/C }', /gateway\.yaml:8 routes\[0\]\.grpc\.protoFile: cannot load unclosed\.proto: unclosed\.proto ends inside a block or statement \(protobufjs: /],
    ['a proto that declares a field twice: its file', '    match: { path: /a }\n    grpc: { upstream: g, protoFile: ./duplicate.proto, method: a.B/C }', /gateway\.yaml:8 routes\[0\]\.grpc\.protoFile: cannot load duplicate\.proto: duplicate name 'x' in Type A \(duplicate\.proto\)$/],
    ['a CA file that holds no certificate', '    match: { path: /a }\n    grpc: { upstream: g, protoFile: ./users.proto, method: shop.users.v1.Users/GetUser, tls: { ca: ./users.proto } }', /gateway\.yaml:8 routes\[0\]\.grpc\.tls\.ca: \.\/users\.proto holds no PEM certificate \(no PEM block: DER or not a certificate\)/],
    ['an unknown service', '    match: { path: /a }\n    grpc: { upstream: g, protoFile: ./users.proto, method: shop.users.v1.Userz/GetUser }', /gateway\.yaml:8 routes\[0\]\.grpc\.method: no service 'shop\.users\.v1\.Userz' in \.\/users\.proto \(it declares shop\.users\.v1\.Users\)/],
    ['an unknown method', '    match: { path: /a }\n    grpc: { upstream: g, protoFile: ./users.proto, method: shop.users.v1.Users/Nope }', /gateway\.yaml:8 routes\[0\]\.grpc\.method: service 'shop\.users\.v1\.Users' in users\.proto has no method 'Nope'/],
    [
      'types no proto declares: each named with its declaration and file, an import included',
      '    match: { path: /a }\n    grpc: { upstream: g, protoFile: ./untyped.proto, method: u.S/M }',
      new RegExp(
        String.raw`gateway\.yaml:8 routes\[0\]\.grpc\.protoFile: cannot load untyped\.proto: ` +
          String.raw`field u\.Req\.x has type 'Nope', which no loaded proto declares \(untyped\.proto\); ` +
          String.raw`rpc u\.S\.M takes 'Reqq', which no loaded proto declares \(untyped\.proto\); ` +
          String.raw`rpc u\.S\.N returns 'dep\.Gone', which no loaded proto declares \(untyped\.proto\); ` +
          String.raw`field dep\.Res\.m has type 'Missing', which no loaded proto declares \(untyped-dep\.proto\)$`,
      ),
    ],
    ['a client-streaming method', '    match: { path: /a }\n    grpc: { upstream: g, protoFile: ./users.proto, method: shop.users.v1.Users/Upload }', /routes\[0\]\.grpc\.method: .*client-streaming/],
    ['a path param not in the request message', '    match: { path: /a/:userId }\n    grpc: { upstream: g, protoFile: ./users.proto, method: shop.users.v1.Users/GetUser }', /gateway\.yaml:7 routes\[0\]\.match\.path: path param ':userId' is not a field of the request message shop\.users\.v1\.GetUserRequest/],
    ['a path param naming a message field', '    match: { path: /a/:address }\n    grpc: { upstream: g, protoFile: ./users.proto, method: shop.users.v1.Users/GetUser }', /routes\[0\]\.match\.path: path param ':address' sets field 'address', which is not a single scalar/],
    ['an unknown body field', '    match: { path: /a }\n    grpc: { upstream: g, protoFile: ./users.proto, method: shop.users.v1.Users/CreateUser, body: person }', /routes\[0\]\.grpc\.body: the request message shop\.users\.v1\.CreateUserRequest has no field 'person'/],
    ['an unknown upstream', '    match: { path: /a }\n    grpc: { upstream: gg, protoFile: ./users.proto, method: shop.users.v1.Users/GetUser }', /routes\[0\]\.grpc\.upstream: unknown upstream 'gg' \(did you mean 'g'\?\)/],
    ['a reserved header to forward', '    match: { path: /a }\n    grpc: { upstream: g, protoFile: ./users.proto, method: shop.users.v1.Users/GetUser, forwardHeaders: [grpc-timeout] }', /routes\[0\]\.grpc\.forwardHeaders\[0\]: 'grpc-timeout' cannot be sent/],
    ['an unknown key', '    match: { path: /a }\n    grpc: { upstream: g, protoFile: ./users.proto, method: shop.users.v1.Users/GetUser, proto: x }', /gateway\.yaml:8 routes\[0\]\.grpc: unknown key 'proto'|routes\[0\]\.grpc.*proto/],
    ['a method not written package.Service/Method', '    match: { path: /a }\n    grpc: { upstream: g, protoFile: ./users.proto, method: GetUser }', /routes\[0\]\.grpc\.method/],
    ['rewrite on a grpc route', '    match: { path: /a }\n    rewrite: { stripPrefix: /a }\n    grpc: { upstream: g, protoFile: ./users.proto, method: shop.users.v1.Users/GetUser }', /gateway\.yaml:8 routes\[0\]\.rewrite: rewrite does not apply to grpc routes/],
  ])('%s', async (_what, route, expected) => {
    const errors = await errorsOf(route);
    expect(errors.join('\n')).toMatch(expected);
  });

  it('an upstream with an HTTP healthCheck', async () => {
    const errors = await errorsOf('    match: { path: /a }\n    grpc: { upstream: g, protoFile: ./users.proto, method: shop.users.v1.Users/GetUser }', '{ targets: [ "http://127.0.0.1:1" ], healthCheck: { path: /h } }');
    expect(errors.join('\n')).toMatch(/routes\[0\]\.grpc\.upstream: upstream 'g' has an HTTP healthCheck/);
  });

  it('imports resolve against includeDirs; well-known types and descriptor.proto are built in', async () => {
    mkdirSync(join(dir, 'inc', 'common'), { recursive: true });
    writeFileSync(join(dir, 'inc', 'common', 'money.proto'), 'syntax = "proto3";\npackage common;\nmessage Money { int64 units = 1; }\n');
    writeFileSync(
      join(dir, 'billing.proto'),
      'syntax = "proto3";\npackage billing;\nimport "common/money.proto";\nimport "google/protobuf/timestamp.proto";\nimport "google/protobuf/descriptor.proto";\n' +
        'message ChargeRequest { string id = 1; common.Money amount = 2; google.protobuf.Timestamp at = 3; }\nservice Billing { rpc Charge(ChargeRequest) returns (common.Money); }\n',
    );
    const route = (extra: string) => `    match: { path: /charges/:id }\n    grpc: { upstream: g, protoFile: ./billing.proto, method: billing.Billing/Charge${extra} }`;
    expect((await errorsOf(route(''))).join('\n')).toMatch(/routes\[0\]\.grpc\.protoFile: cannot (read|load) .*money\.proto/);
    expect(await errorsOf(route(', includeDirs: [ ./inc ]'))).toEqual([]);
  });

  it('a reload whose proto now names a type no proto declares is refused naming the proto and the field; the old route keeps serving', async () => {
    const d = mkdtempSync(join(tmpdir(), 'gantry-grpc-reload-'));
    writeFileSync(join(d, 'users.proto'), PROTO);
    const backend = await startGrpcServer(join(d, 'users.proto'));
    const g = await startGateway(
      `version: 1
listeners: [ { name: public, port: 0, host: 127.0.0.1 } ]
upstreams:
  users-grpc: { targets: [ "http://127.0.0.1:${backend.port}" ] }
routes:
  - name: get-user
    match: { path: /v1/users/:id, methods: [GET] }
    grpc: { upstream: users-grpc, protoFile: ./users.proto, method: shop.users.v1.Users/GetUser }
`,
      { file: join(d, 'gateway.yaml') },
    );
    try {
      expect((await httpRequest(`${g.url}/v1/users/7`)).json().id).toBe('7');
      writeFileSync(join(d, 'users.proto'), PROTO.replace('User user = 2; }', 'User user = 2; Org owner = 3; }'));
      const r = await g.gw.reload();
      expect(r.ok ? [] : r.issues.map(formatIssue)).toEqual([
        expect.stringMatching(
          /gateway\.yaml:8 routes\[0\]\.grpc\.protoFile: cannot load users\.proto: field shop\.users\.v1\.CreateUserRequest\.owner has type 'Org', which no loaded proto declares \(users\.proto\)$/,
        ),
      ]);
      expect((await httpRequest(`${g.url}/v1/users/8`)).json().id).toBe('8');
    } finally {
      await g.close();
      backend.close();
    }
  });

  it('a valid grpc route loads', async () => {
    expect(await errorsOf('    match: { path: /v1/users/:id }\n    grpc: { upstream: g, protoFile: ./users.proto, method: shop.users.v1.Users/GetUser, timeout: 2s }')).toEqual([]);
  });
});
