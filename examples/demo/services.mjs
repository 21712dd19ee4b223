// The demo shop behind the gateway: three tiny JSON services on loopback.
//   catalog   GET /products, GET /products/:id
//   inventory GET /stock/:id
//   orders    GET /orders, POST /orders  (JSON body { productId, quantity })
import http from 'node:http';

const products = [
  { id: 1, name: 'Espresso cup', price: 9.5 },
  { id: 2, name: 'Pour-over kettle', price: 42 },
  { id: 3, name: 'Burr grinder', price: 129 },
];
const stock = { 1: 120, 2: 8, 3: 0 };
const orders = [];

function send(res, status, body) {
  const text = JSON.stringify(body);
  res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text) });
  res.end(text);
}

function readJson(req, cb) {
  const chunks = [];
  let size = 0;
  req.on('data', (c) => {
    size += c.length;
    if (size <= 64 * 1024) chunks.push(c);
  });
  req.on('end', () => {
    try {
      cb(JSON.parse(Buffer.concat(chunks).toString() || '{}'));
    } catch {
      cb(undefined);
    }
  });
}

const handlers = {
  catalog(req, res) {
    const path = req.url.split('?')[0];
    if (path === '/products' || path === '/products/') return send(res, 200, { items: products, servedBy: 'catalog' });
    const m = /^\/products\/(\d+)$/.exec(path);
    const p = m && products.find((x) => x.id === Number(m[1]));
    return p ? send(res, 200, p) : send(res, 404, { error: 'no such product' });
  },
  inventory(req, res) {
    const m = /^\/stock\/(\d+)$/.exec(req.url.split('?')[0]);
    if (!m || !(m[1] in stock)) return send(res, 404, { error: 'unknown product' });
    return send(res, 200, { productId: Number(m[1]), available: stock[m[1]] });
  },
  orders(req, res) {
    if (req.method === 'GET') return send(res, 200, { items: orders });
    if (req.method !== 'POST') return send(res, 405, { error: 'method not allowed' });
    readJson(req, (body) => {
      if (!body || !Number.isInteger(body.productId) || !Number.isInteger(body.quantity) || body.quantity < 1) {
        return send(res, 400, { error: 'expected { productId, quantity }' });
      }
      const order = { id: orders.length + 1, ...body, consumer: req.headers['x-consumer-id'] ?? null, requestId: req.headers['x-request-id'] ?? null };
      orders.push(order);
      send(res, 201, order);
    });
  },
};

/** Starts the three services; resolves with their servers. Ports from env or defaults. */
export async function startServices(env = process.env) {
  const ports = {
    catalog: Number(env.DEMO_CATALOG_PORT ?? 7001),
    inventory: Number(env.DEMO_INVENTORY_PORT ?? 7002),
    orders: Number(env.DEMO_ORDERS_PORT ?? 7003),
  };
  const servers = {};
  for (const [name, port] of Object.entries(ports)) {
    const server = http.createServer(handlers[name]);
    await new Promise((resolve, reject) => {
      server.once('error', reject);
      server.listen(port, '127.0.0.1', resolve);
    });
    servers[name] = server;
  }
  return { ports, servers, close: () => Promise.all(Object.values(servers).map((s) => new Promise((r) => s.close(r)))) };
}
