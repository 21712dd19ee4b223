import http from 'node:http';
import { writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { GraphQLClient, ClientError } from 'graphql-request';
import { buildClientSchema, getIntrospectionQuery, type IntrospectionQuery } from 'graphql';
import { eventually, httpRequest, startGateway, startUpstream, writeTempConfig, type TestGateway, type TestUpstream } from '../helpers.js';
import { loadConfig } from '../../src/config/load.js';
import { formatIssue } from '../../src/config/source.js';
import { hashApiKey } from '../../src/consumers/hash.js';

const json = (res: http.ServerResponse, status: number, body: unknown) => {
  const text = JSON.stringify(body);
  res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text) });
  res.end(text);
};

const PRODUCTS: Record<string, { id: string; name: string; makerId: string }> = {
  '1': { id: '1', name: 'Lamp', makerId: 'm1' },
  '2': { id: '2', name: 'Desk', makerId: 'm1' },
  '3': { id: '3', name: 'Chair', makerId: 'm2' },
};

const SDL = `
        type Query {
          product(id: ID!): Product
          products(category: String): [Product!]!
          mustProduct(id: ID!): Product!
          slow: Product
          quick: Product
          me: Maker
        }
        type Mutation { createProduct(input: ProductInput!): Product! }
        input ProductInput { name: String!, price: Float }
        type Product { id: ID!, name: String, price: Float, maker: Maker, stock: Stock }
        type Maker { id: ID!, name: String, products: [Product!] }
        type Stock { count: Int }`;

const RESOLVERS = `
        Query.product: { upstream: catalog, path: "/products/{args.id}", nullOnNotFound: true }
        Query.products: { upstream: catalog, path: "/products?category={args.category}", select: items }
        Query.mustProduct: { upstream: catalog, path: "/products/{args.id}" }
        Query.slow: { upstream: inventory, path: /hang, timeout: 20s }
        Query.quick: { upstream: inventory, path: /hang-quick, timeout: 200ms }
        Query.me: { upstream: catalog, path: /makers/me, forwardHeaders: [ authorization ] }
        Mutation.createProduct: { upstream: catalog, path: /products, method: POST, body: args.input }
        Product.maker: { upstream: catalog, path: "/makers/{parent.makerId}" }
        Product.stock: { upstream: inventory, path: "/stock/{parent.id}" }`;

/** `graphql:` over real sockets: a real GraphQL client and raw HTTP against real REST upstreams. */
describe('graphql', () => {
  let catalog: TestUpstream;
  let inventory: TestUpstream;
  let gw: TestGateway;
  const closed: string[] = [];
  const KEY = 'gk_live_graphql_0001';
  let client: GraphQLClient;

  beforeAll(async () => {
    catalog = await startUpstream((req, res, body) => {
      const url = new URL(req.url!, 'http://x');
      const p = url.pathname;
      if (req.method === 'POST' && p === '/products') return json(res, 201, { id: 'new', ...(JSON.parse(body.toString()) as object) });
      if (p === '/products') return json(res, 200, { items: Object.values(PRODUCTS), category: url.searchParams.get('category') });
      const product = /^\/products\/(.+)$/.exec(p);
      if (product) {
        const found = PRODUCTS[decodeURIComponent(product[1]!)];
        return found ? json(res, 200, { ...found, seenPath: p }) : json(res, 404, { error: 'not found' });
      }
      const maker = /^\/makers\/(.+)$/.exec(p);
      if (maker) return json(res, 200, { id: maker[1], name: `Maker ${maker[1]}` });
      json(res, 404, {});
    });
    inventory = await startUpstream(
      (req, res) => {
        const p = req.url!;
        if (p.startsWith('/hang')) {
          res.on('close', () => closed.push(p));
          return;
        }
        if (p === '/stock/2') return json(res, 503, { error: 'busy' });
        json(res, 200, { count: Number(p.split('/')[2]) * 10 });
      },
      { bufferBody: false },
    );
    gw = await startGateway(`version: 1
listeners: [ { name: public, port: 0, host: 127.0.0.1 } ]
consumers:
  - { id: shop-web, apiKeys: ["${hashApiKey(KEY)}"] }
upstreams:
  catalog: { targets: [ "${catalog.url}" ] }
  inventory: { targets: [ "${inventory.url}" ] }
routes:
  - name: graphql
    match: { path: /graphql, methods: [GET, POST, PUT] }
    policies: [ { request-id: {} } ]
    graphql:
      maxDepth: 3
      maxAliases: 2
      maxFields: 40
      schema: |${SDL}
      resolvers:${RESOLVERS}
  - name: graphql-open
    match: { path: /open/graphql, methods: [GET, POST] }
    policies: [ { api-key: {} } ]
    graphql:
      introspection: true
      schema: |${SDL}
      resolvers:${RESOLVERS}
  - name: graphql-rest
    match: { path: /makers-graphql/*, methods: [POST] }
    graphql:
      schema: "type Query { maker: Maker } type Maker { id: ID, name: String }"
      resolvers:
        Query.maker: { upstream: catalog, path: "/makers/{params.*}" }
`);
    client = new GraphQLClient(gw.url + '/graphql');
  });

  afterAll(async () => {
    await gw?.close();
    await Promise.all([catalog?.close(), inventory?.close()]);
  });

  const post = (body: string, headers: Record<string, string> = {}, path = '/graphql') =>
    httpRequest(gw.url + path, { method: 'POST', body, headers: { 'content-type': 'application/json', ...headers } });

  it('answers a query through a GraphQL client: args, nested resolvers with parent, default fields', async () => {
    const data = await client.request<{ product: unknown }>(`{ product(id: "1") { id name maker { id name } stock { count } } }`);
    expect(data).toEqual({ product: { id: '1', name: 'Lamp', maker: { id: 'm1', name: 'Maker m1' }, stock: { count: 10 } } });
    const stock = inventory.seen.at(-1)!;
    expect(stock.url).toBe('/stock/1');
    expect(stock.method).toBe('GET');
    expect(stock.headers.accept).toBe('application/json');
    expect(stock.headers['x-forwarded-for']).toBe('127.0.0.1');
    // The correlation id set by the request-id policy goes on; the client's other headers do not.
    expect(stock.headers['x-request-id']).toMatch(/./);
  });

  it.each([
    ['/makers-graphql/m1', '/makers/m1'],
    // The rest as sent, as in rewrite templates: an escaped "/" stays one segment, never a ".." segment.
    ['/makers-graphql/a%2Fb/c%20d', '/makers/a%2Fb/c%20d'],
    ['/makers-graphql/..%2Fadmin', '/makers/..%2Fadmin'],
  ])('{params.*} in a resolver path is the rest the route matched, as sent (%s)', async (path, want) => {
    const res = await post(JSON.stringify({ query: '{ maker { id } }' }), {}, path);
    expect(res.status).toBe(200);
    expect(catalog.seen.at(-1)!.url).toBe(want);
    expect(res.json()).toEqual({ data: { maker: { id: want.slice('/makers/'.length) } } });
  });

  it('takes variables, percent-encodes values into the path, and answers graphql-response+json to a client asking for it', async () => {
    const res = await post(JSON.stringify({ query: 'query P($id: ID!) { product(id: $id) { name } }', variables: { id: '1/../2' } }), { accept: 'application/graphql-response+json' });
    expect(res.status).toBe(200);
    expect(res.headers['content-type']).toBe('application/graphql-response+json; charset=utf-8');
    // Unknown id (the encoded value is one segment): nullOnNotFound gives null without an error.
    expect(res.json()).toEqual({ data: { product: null } });
    expect(catalog.seen.at(-1)!.url).toBe('/products/1%2F..%2F2');
  });

  it('fills query-string placeholders and selects into the upstream body', async () => {
    const data = await client.request<{ products: { id: string }[] }>(`query($c: String) { products(category: $c) { id } }`, { c: 'lamps & more' });
    expect(data.products.map((p) => p.id)).toEqual(['1', '2', '3']);
    expect(catalog.seen.at(-1)!.url).toBe('/products?category=lamps%20%26%20more');
  });

  it('makes identical upstream calls of one request once', async () => {
    const before = catalog.seen.length;
    const data = await client.request<{ products: { maker: { id: string } }[]; a: unknown; b: unknown }>(`{ products { maker { id } } a: product(id: "1") { id } b: product(id: "1") { name } }`);
    expect(data.products.map((p) => p.maker.id)).toEqual(['m1', 'm1', 'm2']);
    const urls = catalog.seen.slice(before).map((s) => s.url).sort();
    // Three products share two makers; two aliases ask for the same product.
    expect(urls).toEqual(['/makers/m1', '/makers/m2', '/products/1', '/products?category=']);
  });

  it('a failing nullable field is null with an error at its path; the rest of the data stays', async () => {
    const res = await post(JSON.stringify({ query: '{ product(id: "2") { name stock { count } } }' }));
    expect(res.status).toBe(200);
    expect(res.headers['content-type']).toBe('application/json; charset=utf-8');
    const body = res.json<{ data: unknown; errors: { message: string; path: unknown[]; extensions: Record<string, unknown> }[] }>();
    expect(body.data).toEqual({ product: { name: 'Desk', stock: null } });
    expect(body.errors).toHaveLength(1);
    expect(body.errors[0]!.path).toEqual(['product', 'stock']);
    expect(body.errors[0]!.message).toBe("Product.stock: upstream 'inventory' answered 503");
    expect(body.errors[0]!.extensions).toEqual({ code: 'UPSTREAM_FAILED', upstream: 'inventory' });
    // The GraphQL client sees the partial result with errorPolicy 'all'.
    const partial = await new GraphQLClient(gw.url + '/graphql', { errorPolicy: 'all' }).rawRequest<{ product: unknown }>('{ product(id: "2") { stock { count } } }');
    expect(partial.data).toEqual({ product: { stock: null } });
    expect(partial.errors?.[0]?.path).toEqual(['product', 'stock']);
  });

  it('a failing non-null field nulls its parent up to the root (GraphQL spec §6.4.4)', async () => {
    const res = await post(JSON.stringify({ query: '{ mustProduct(id: "404") { id } }' }));
    expect(res.status).toBe(200);
    const body = res.json<{ data: unknown; errors: { path: unknown[]; message: string }[] }>();
    expect(body.data).toBeNull();
    expect(body.errors[0]!.path).toEqual(['mustProduct']);
    expect(body.errors[0]!.message).toBe("Query.mustProduct: upstream 'catalog' answered 404");
    await expect(client.request('{ mustProduct(id: "404") { id } }')).rejects.toBeInstanceOf(ClientError);
  });

  /** A fragment that doubles at each level: 2^10 `id` selections from a 13-line document. */
  const bomb = ['query { product(id: "1") { ...F9 } }', 'fragment F0 on Product { id }', ...Array.from({ length: 9 }, (_, i) => `fragment F${i + 1} on Product { ...F${i} ...F${i} }`)].join('\n');
  const limits: { desc: string; query: string; message: string }[] = [
    { desc: 'depth 4 (maxDepth 3)', query: '{ product(id: "1") { maker { products { id } } } }', message: 'the operation exceeds maxDepth (3)' },
    { desc: 'depth 4 through fragments', query: '{ product(id: "1") { ...P } } fragment P on Product { maker { ... on Maker { ...M } } } fragment M on Maker { products { id } }', message: 'the operation exceeds maxDepth (3)' },
    { desc: '3 aliases (maxAliases 2)', query: '{ a: product(id: "1") { id } b: product(id: "2") { id } c: product(id: "3") { id } }', message: 'the operation exceeds maxAliases (2)' },
    { desc: 'a fragment expanding to 1024 fields (maxFields 40)', query: bomb, message: 'the operation exceeds maxFields (40)' },
  ];
  for (const c of limits) {
    it(`refuses ${c.desc} with 400 before any upstream call`, async () => {
      const before = catalog.seen.length + inventory.seen.length;
      const res = await post(JSON.stringify({ query: c.query }));
      expect(res.status).toBe(400);
      expect(res.json()).toEqual({ errors: [{ message: c.message, extensions: { code: 'GRAPHQL_LIMIT_EXCEEDED' } }] });
      expect(catalog.seen.length + inventory.seen.length).toBe(before);
    });
  }

  it('allows an operation at the limits (depth 3 through fragments, 2 aliases)', async () => {
    const res = await post(JSON.stringify({ query: '{ a: product(id: "1") { ...P } b: product(id: "3") { id } } fragment P on Product { maker { ... on Maker { id } } }' }));
    expect(res.status).toBe(200);
    expect(res.json()).toEqual({ data: { a: { maker: { id: 'm1' } }, b: { id: '3' } } });
  });

  it('keeps introspection off unless enabled', async () => {
    const off = await post(JSON.stringify({ query: '{ __schema { queryType { name } } }' }));
    expect(off.status).toBe(400);
    const body = off.json<{ errors: { message: string; extensions: { code: string } }[] }>();
    expect(body.errors[0]!.message).toMatch(/introspection/i);
    expect(body.errors[0]!.extensions.code).toBe('GRAPHQL_VALIDATION_FAILED');
    // __typename is not introspection of the schema.
    expect(await client.request('{ product(id: "3") { __typename } }')).toEqual({ product: { __typename: 'Product' } });
    const open = new GraphQLClient(gw.url + '/open/graphql', { headers: { 'x-api-key': KEY } });
    const schema = buildClientSchema(await open.request<IntrospectionQuery>(getIntrospectionQuery()));
    expect(Object.keys(schema.getQueryType()!.getFields())).toEqual(['product', 'products', 'mustProduct', 'slow', 'quick', 'me']);
  });

  it('runs the route policies first: api-key refuses before any upstream call', async () => {
    const before = catalog.seen.length;
    const res = await post(JSON.stringify({ query: '{ product(id: "1") { id } }' }), {}, '/open/graphql');
    expect(res.status).toBe(401);
    expect(catalog.seen.length).toBe(before);
  });

  it('serves GET with query, variables and operationName; refuses mutations over GET', async () => {
    const getClient = new GraphQLClient(gw.url + '/graphql', { method: 'GET' });
    expect(await getClient.request('query P($id: ID!) { product(id: $id) { name } }', { id: '3' })).toEqual({ product: { name: 'Chair' } });
    const qs = new URLSearchParams({ query: 'query A { product(id: "1") { name } } query B { product(id: "2") { name } }', operationName: 'B' });
    const named = await httpRequest(`${gw.url}/graphql?${qs}`);
    expect(named.status).toBe(200);
    expect(named.json()).toEqual({ data: { product: { name: 'Desk' } } });
    const before = catalog.seen.length;
    const mutation = await httpRequest(`${gw.url}/graphql?${new URLSearchParams({ query: 'mutation { createProduct(input: { name: "x" }) { id } }' })}`);
    expect(mutation.status).toBe(405);
    expect(mutation.headers.allow).toBe('POST');
    expect(catalog.seen.length).toBe(before);
    const none = await httpRequest(`${gw.url}/graphql`);
    expect(none.status).toBe(400);
    expect(none.json<{ errors: { message: string }[] }>().errors[0]!.message).toMatch(/query parameter `query`/);
    const put = await httpRequest(`${gw.url}/graphql`, { method: 'PUT', body: '{}' });
    expect(put.status).toBe(405);
    expect(put.headers.allow).toBe('GET, POST');
  });

  it('runs a mutation as a POST with the argument as JSON body', async () => {
    const data = await client.request<{ createProduct: unknown }>('mutation C($in: ProductInput!) { createProduct(input: $in) { id name price } }', { in: { name: 'Shelf', price: 12.5 } });
    expect(data).toEqual({ createProduct: { id: 'new', name: 'Shelf', price: 12.5 } });
    const seen = catalog.seen.at(-1)!;
    expect(seen.method).toBe('POST');
    expect(seen.url).toBe('/products');
    expect(seen.headers['content-type']).toBe('application/json');
    expect(JSON.parse(seen.body.toString())).toEqual({ name: 'Shelf', price: 12.5 });
  });

  const bad: { desc: string; body: string; headers?: Record<string, string>; status: number; message: RegExp; code: string }[] = [
    { desc: 'invalid JSON', body: '{"query": ', status: 400, message: /not valid JSON/, code: 'BAD_REQUEST' },
    { desc: 'no query', body: '{"variables": {}}', status: 400, message: /`query` must be a non-empty string/, code: 'BAD_REQUEST' },
    { desc: 'a batch (array)', body: '[{"query": "{ slow { id } }"}]', status: 400, message: /JSON object/, code: 'BAD_REQUEST' },
    { desc: 'variables not an object', body: '{"query": "{ slow { id } }", "variables": [1]}', status: 400, message: /`variables` must be an object/, code: 'BAD_REQUEST' },
    { desc: 'a syntax error', body: '{"query": "{ product(id: "}', status: 400, message: /Syntax Error/, code: 'GRAPHQL_PARSE_FAILED' },
    { desc: 'an unknown field', body: '{"query": "{ product(id: \\"1\\") { colour } }"}', status: 400, message: /Cannot query field "colour" on type "Product"/, code: 'GRAPHQL_VALIDATION_FAILED' },
    { desc: 'a text/plain body', body: '{"query": "{ slow { id } }"}', headers: { 'content-type': 'text/plain' }, status: 415, message: /Content-Type 'text\/plain'/, code: 'BAD_REQUEST' },
    { desc: 'a body over maxRequestSize', body: JSON.stringify({ query: `{ product(id: "${'x'.repeat(70_000)}") { id } }` }), status: 413, message: /larger than 65536 bytes/, code: 'REQUEST_TOO_LARGE' },
    { desc: 'a bad variable value', body: '{"query": "query($id: ID!) { product(id: $id) { id } }", "variables": {"id": {"a": 1}}}', status: 400, message: /Variable "\$id"/, code: 'BAD_USER_INPUT' },
  ];
  for (const c of bad) {
    it(`answers ${c.status} with errors for ${c.desc}, calling nothing upstream`, async () => {
      const before = catalog.seen.length + inventory.seen.length;
      const res = await post(c.body, c.headers);
      expect(res.status).toBe(c.status);
      const body = res.json<{ data?: unknown; errors: { message: string; extensions?: { code?: string } }[] }>();
      expect(body.data).toBeUndefined();
      expect(body.errors[0]!.message).toMatch(c.message);
      expect(body.errors[0]!.extensions?.code).toBe(c.code);
      expect(catalog.seen.length + inventory.seen.length).toBe(before);
    });
  }

  it('negotiates the response type: 406 when neither JSON type is acceptable', async () => {
    const res = await post(JSON.stringify({ query: '{ product(id: "1") { id } }' }), { accept: 'text/html' });
    expect(res.status).toBe(406);
    const json2 = await post(JSON.stringify({ query: '{ product(id: "1") { id } }' }), { accept: 'application/json' });
    expect(json2.headers['content-type']).toBe('application/json; charset=utf-8');
    expect(json2.headers.vary).toBe('accept');
  });

  it('bounds a call by its timeout: a field error coded UPSTREAM_TIMEOUT, the exchange closed upstream', async () => {
    const res = await post(JSON.stringify({ query: '{ quick { id } product(id: "3") { name } }' }));
    expect(res.status).toBe(200);
    const body = res.json<{ data: unknown; errors: { message: string; path: unknown[]; extensions: Record<string, unknown> }[] }>();
    expect(body.data).toEqual({ quick: null, product: { name: 'Chair' } });
    expect(body.errors).toEqual([expect.objectContaining({ message: "Query.quick: upstream 'inventory' did not answer within 200ms", path: ['quick'], extensions: { code: 'UPSTREAM_TIMEOUT', upstream: 'inventory' } })]);
    await eventually(() => (closed.includes('/hang-quick') ? true : undefined), 5000, 'the timed-out call closed upstream');
  });

  it('sends the client\'s headers on only where forwardHeaders lists them', async () => {
    const before = catalog.seen.length;
    const data = await new GraphQLClient(gw.url + '/graphql', { headers: { authorization: 'Bearer t0k' } }).request('{ me { id } product(id: "1") { id } }');
    expect(data).toEqual({ me: { id: 'me' }, product: { id: '1' } });
    const seen = catalog.seen.slice(before);
    expect(seen.find((s) => s.url === '/makers/me')!.headers.authorization).toBe('Bearer t0k');
    expect(seen.find((s) => s.url === '/products/1')!.headers.authorization).toBeUndefined();
  });

  it('cancels the upstream calls in flight when the client goes away', async () => {
    const before = inventory.seen.length;
    const req = http.request(gw.url + '/graphql', { method: 'POST', agent: false, headers: { 'content-type': 'application/json' } });
    req.on('error', () => {});
    req.end(JSON.stringify({ query: '{ slow { id } }' }));
    await eventually(() => (inventory.seen.slice(before).some((s) => s.url === '/hang') ? true : undefined), 5000, 'the call sent');
    req.destroy();
    await eventually(() => (closed.includes('/hang') ? true : undefined), 5000, 'the call closed upstream');
  });
});

describe('graphql config', () => {
  const doc = (sdl: string, resolvers: string, extra = '') => `version: 1
listeners: [ { name: p, port: 0 } ]
upstreams:
  catalog: { targets: [ "http://127.0.0.1:1" ] }
routes:
  - name: gql
    match: { path: /graphql }
${extra}    graphql:
      schema: |
${sdl
  .split('\n')
  .map((l) => `        ${l}`)
  .join('\n')}
      resolvers:
${resolvers}
`;
  const SDL2 = 'type Query { product(id: ID!): Product!, maybe(id: ID): Product }\ntype Product { id: ID!, name: String }\ninterface Named { name: String }';
  const R = '        Query.product: { upstream: catalog, path: "/p/{args.id}" }\n        Query.maybe: { upstream: catalog, path: "/p/{args.id}" }';
  const errors = async (text: string, file = '/v/gateway.yaml') => {
    const r = await loadConfig(file, { text, env: {} });
    return r.ok ? '' : r.issues.filter((i) => i.severity === 'error').map(formatIssue).join('\n');
  };
  const cases: { desc: string; text: string; error: RegExp }[] = [
    { desc: 'an SDL syntax error, at its line inside the block scalar', text: doc('type Query { a: Int }\ntype Product { id: ID! name String }', R), error: /^\/v\/gateway\.yaml:11 routes\[0\]\.graphql\.schema: GraphQL syntax error: Expected ":", found Name "String"\. \(SDL line 2, column 29\)$/m },
    { desc: 'an unknown type in the SDL', text: doc('type Query { product(id: ID!): Product! }\ntype Product { id: ID!, maker: Maker }', R), error: /^\/v\/gateway\.yaml:11 routes\[0\]\.graphql\.schema: Unknown type "Maker"\. \(SDL line 2, column 32\)$/m },
    { desc: 'a resolver on an unknown type', text: doc(SDL2, R + '\n        Prodcut.name: { upstream: catalog, path: /n }'), error: /^\/v\/gateway\.yaml:16 routes\[0\]\.graphql\.resolvers\.Prodcut\.name: unknown type 'Prodcut' in the schema \(did you mean 'Product'\?\)$/m },
    { desc: 'a resolver on an unknown field', text: doc(SDL2, R + '\n        Product.nmae: { upstream: catalog, path: /n }'), error: /^\/v\/gateway\.yaml:16 routes\[0\]\.graphql\.resolvers\.Product\.nmae: type 'Product' has no field 'nmae' \(did you mean 'name'\?\)$/m },
    { desc: 'a resolver on an interface', text: doc(SDL2, R + '\n        Named.name: { upstream: catalog, path: /n }'), error: /routes\[0\]\.graphql\.resolvers\.Named\.name: 'Named' is not an object type/ },
    { desc: 'an unknown upstream', text: doc(SDL2, R + '\n        Product.name: { upstream: catalgo, path: /n }'), error: /^\/v\/gateway\.yaml:16 routes\[0\]\.graphql\.resolvers\.Product\.name\.upstream: unknown upstream 'catalgo' \(did you mean 'catalog'\?\)$/m },
    { desc: 'an argument the field does not have', text: doc(SDL2, '        Query.product: { upstream: catalog, path: "/p/{args.sku}" }'), error: /^\/v\/gateway\.yaml:14 routes\[0\]\.graphql\.resolvers\.Query\.product\.path: \{args\.sku\}: field Query\.product has no argument 'sku' \(its arguments: id\)$/m },
    { desc: 'a parent placeholder on a root field', text: doc(SDL2, '        Query.product: { upstream: catalog, path: "/p/{parent.id}" }'), error: /Query\.product\.path: \{parent\.id\}: Query is a root type, its fields have no parent object/ },
    { desc: 'an unknown placeholder', text: doc(SDL2, '        Query.product: { upstream: catalog, path: "/p/{id}" }'), error: /Query\.product\.path: \{id\} is not a placeholder: use \{args\.NAME\}, \{parent\.NAME\} or \{params\.NAME\}/ },
    { desc: 'a route param the route does not capture', text: doc(SDL2, '        Query.product: { upstream: catalog, path: "/p/{params.id}" }'), error: /Query\.product\.path: \{params\.id\} is not a param of match\.path/ },
    {
      desc: 'a route param no named group of the pathRegex gives',
      text: doc(SDL2, '        Query.product: { upstream: catalog, path: "/s/{params.shop}/p/{params.id}" }').replace('match: { path: /graphql }', 'match: { pathRegex: "^/g/(?<shop>[a-z]+)$" }'),
      error: /^\/v\/gateway\.yaml:14 routes\[0\]\.graphql\.resolvers\.Query\.product\.path: \{params\.id\} is not a param of match\.pathRegex \(the route captures \{params\.shop\}\)$/m,
    },
    { desc: 'a body on a GET', text: doc(SDL2, '        Query.product: { upstream: catalog, path: /p, body: args }'), error: /Query\.product\.body: a GET request carries no body/ },
    { desc: 'a body argument the field does not have', text: doc(SDL2, '        Query.product: { upstream: catalog, path: /p, method: POST, body: args.input }'), error: /Query\.product\.body: field Query\.product has no argument 'input'/ },
    { desc: 'nullOnNotFound on a non-null field', text: doc(SDL2, '        Query.product: { upstream: catalog, path: /p, nullOnNotFound: true }'), error: /Query\.product\.nullOnNotFound: Query\.product is non-null \(Product!\): it cannot resolve to null/ },
    { desc: 'an unknown resolver option', text: doc(SDL2, '        Query.product: { upstream: catalog, path: /p, optional: true }'), error: /^\/v\/gateway\.yaml:14 routes\[0\]\.graphql\.resolvers\.Query\.product.*optional/m },
    { desc: 'a bad resolver key', text: doc(SDL2, '        product: { upstream: catalog, path: /p }'), error: /routes\[0\]\.graphql\.resolvers/ },
    { desc: 'maxDepth 0', text: doc(SDL2, R).replace('    graphql:\n', '    graphql:\n      maxDepth: 0\n'), error: /^\/v\/gateway\.yaml:9 routes\[0\]\.graphql\.maxDepth/m },
    { desc: 'schema and schemaFile', text: doc(SDL2, R).replace('    graphql:\n', '    graphql:\n      schemaFile: x.graphql\n'), error: /routes\[0\]\.graphql: use either schema or schemaFile, not both/ },
    { desc: 'a missing schemaFile', text: doc(SDL2, R).replace(/ {6}schema: \|\n(?: {8}.*\n)+/, '      schemaFile: missing.graphql\n'), error: /routes\[0\]\.graphql\.schemaFile: cannot read missing\.graphql: ENOENT/ },
    { desc: 'rewrite on a graphql route', text: doc(SDL2, R, '    rewrite: { stripPrefix: /g }\n'), error: /routes\[0\]\.rewrite: rewrite does not apply to graphql routes/ },
    { desc: 'a subscription type', text: doc('type Query { a: Int }\ntype Subscription { b: Int }', ''), error: /^\/v\/gateway\.yaml:11 routes\[0\]\.graphql\.schema: subscriptions are not supported/m },
  ];
  for (const c of cases) {
    it(`refuses ${c.desc}`, async () => {
      expect(await errors(c.text)).toMatch(c.error);
    });
  }

  it('accepts a pathRegex route whose resolver paths name its named groups', async () => {
    const text = doc(SDL2, '        Query.product: { upstream: catalog, path: "/s/{params.shop}/p/{args.id}" }\n        Query.maybe: { upstream: catalog, path: "/p/{args.id}" }');
    expect(await errors(text.replace('match: { path: /graphql }', 'match: { pathRegex: "^/g/(?<shop>[a-z]+)$" }'))).toBe('');
  });

  it('reads schemaFile relative to the config file, with SDL errors at the file\'s line; warns about root fields without resolver', async () => {
    const file = writeTempConfig(doc(SDL2, R).replace(/ {6}schema: \|\n(?: {8}.*\n)+/, '      schemaFile: shop.graphql\n'));
    writeFileSync(join(dirname(file), 'shop.graphql'), SDL2 + '\ntype Extra { a: Int }\n');
    const ok = await loadConfig(file, { env: {} });
    expect(ok.ok ? ok.loaded.warnings.map(formatIssue) : ok.issues.map(formatIssue)).toEqual([]);
    writeFileSync(join(dirname(file), 'shop.graphql'), 'type Query {\n  product(id: ID!): Product!\n  other: Int\n  maybe(id: ID): Product\n}\ntype Product { id: ID! }\n');
    const warned = await loadConfig(file, { env: {} });
    expect(warned.ok ? warned.loaded.warnings.map(formatIssue) : warned.issues.map(formatIssue)).toEqual([expect.stringMatching(/routes\[0\]\.graphql\.resolvers: warning: Query\.other has no resolver: it always resolves to null$/)]);
    writeFileSync(join(dirname(file), 'shop.graphql'), 'type Query {\n  product(id: ID!): Product!\n  maybe(id: ID): Product\n}\ntype Product { id: ID!\n  name: Strin }\n');
    const bad = await loadConfig(file, { env: {} });
    expect(bad.ok ? '' : bad.issues.map(formatIssue).join('\n')).toMatch(/shop\.graphql:6 routes\[0\]\.graphql\.schemaFile: Unknown type "Strin"\. Did you mean "String"\? \(SDL line 6, column 9\)/);
  });
});
