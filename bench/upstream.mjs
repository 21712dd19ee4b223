// Node upstream for the benchmark when nginx is not installed: keep-alive, ~100-byte JSON
// on every path, and a 10 KB JSON document on /json-10k. Binds 127.0.0.1 only.
import http from 'node:http';
import { BODY, BODY_10K } from './bodies.mjs';

const port = Number(process.argv[2] ?? 19001);
const small = Buffer.from(BODY);
const big = Buffer.from(BODY_10K);
const server = http.createServer((req, res) => {
  req.resume();
  const body = req.url?.startsWith('/json-10k') ? big : small;
  res.writeHead(200, { 'content-type': 'application/json', 'content-length': body.length });
  res.end(body);
});
server.keepAliveTimeout = 120_000;
server.headersTimeout = 125_000;
server.requestTimeout = 0;
server.listen(port, '127.0.0.1');
for (const sig of ['SIGINT', 'SIGTERM']) process.on(sig, () => process.exit(0));
