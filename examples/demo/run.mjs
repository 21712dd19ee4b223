#!/usr/bin/env node
// `npm start`: the demo shop services plus the gateway on examples/demo/gateway.yaml.
import { randomBytes } from 'node:crypto';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { startServices } from './services.mjs';
import { ConfigError, Gateway } from '../../dist/index.js';

const here = dirname(fileURLToPath(import.meta.url));
const services = await startServices();
// The dashboard's token: a fresh one per run unless given.
process.env.GANTRY_ADMIN_TOKEN ||= randomBytes(18).toString('base64url');
let gw;
try {
  gw = await Gateway.start(join(here, 'gateway.yaml'));
} catch (e) {
  console.error(e instanceof ConfigError ? e.message : e);
  await services.close();
  process.exit(1);
}
const base = `http://localhost:${gw.port()}`;
process.stderr.write(`
Gantry demo: gateway on ${base}, services catalog :${services.ports.catalog}, inventory :${services.ports.inventory}, orders :${services.ports.orders}

Try:
  curl ${base}/api/products
  curl ${base}/api/products/2
  curl ${base}/api/stock/2
  curl -X POST ${base}/api/orders -H 'content-type: application/json' -d '{"productId":2,"quantity":1}'
  curl ${base}/api/orders                  # request ids masked
  curl -i -X POST ${base}/api/orders -H 'content-type: application/json' -d '{"productId":"two"}'   # 400 with errors
  curl -i -X POST ${base}/api/async/orders -H 'content-type: application/json' -d '{"productId":1,"quantity":3}'   # 202 + Location of the job
  curl -X POST ${base}/api/batch -H 'content-type: application/json' -d '[{"path":"/api/products/1"},{"path":"/api/stock/1"}]'
  curl ${base}/api/graphql -H 'content-type: application/json' -d '{"query":"{ products { name stock { available } } }"}'
  curl -i ${base}/api/checkout/cart        # a static maintenance reply
  curl -i ${base}/api/nope                 # 404 as application/problem+json
  curl -i -X DELETE ${base}/api/products   # 405 with Allow

Dashboard: http://127.0.0.1:${gw.adminPort}/  (admin token: ${process.env.GANTRY_ADMIN_TOKEN})

Access log lines follow. Ctrl-C (or SIGTERM) drains and stops.

`);
process.on('SIGHUP', () => void gw.reload());
let stopping = false;
for (const sig of ['SIGINT', 'SIGTERM']) {
  process.on(sig, async () => {
    if (stopping) return;
    stopping = true;
    await gw.drain(5000);
    await services.close();
    process.exit(0);
  });
}
