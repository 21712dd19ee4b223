// A chaos-test upstream process: answers its name. Signals switch its behaviour:
// SIGUSR1 toggles 200 ms slowness, SIGUSR2 toggles answering 503. Loopback only.
//   node scripts/chaos-upstream.mjs NAME [PORT]   → prints "listening PORT"
import http from 'node:http';

const [name = 't', port = '0'] = process.argv.slice(2);
let slow = false;
let failing = false;
process.on('SIGUSR1', () => (slow = !slow));
process.on('SIGUSR2', () => (failing = !failing));
const server = http.createServer((req, res) => {
  const answer = () => {
    if (failing) {
      res.writeHead(503, { 'content-type': 'text/plain' });
      res.end('busy');
      return;
    }
    res.writeHead(200, { 'content-type': 'text/plain' });
    res.end(name);
  };
  if (slow && req.url !== '/health') setTimeout(answer, 200);
  else answer();
});
server.keepAliveTimeout = 60_000;
server.listen(Number(port), '127.0.0.1', () => console.log(`listening ${server.address().port}`));
