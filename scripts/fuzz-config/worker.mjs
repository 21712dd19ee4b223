// Worker thread of npm run fuzz:config: runs `gantry validate FILE` in-process (the CLI's own
// `validate` function, its stdout/stderr captured) for each file the driver posts, so that a
// case that hangs or exhausts memory ends this worker, not the driver.
import { parentPort, workerData } from 'node:worker_threads';

const { validate } = await import(workerData.validateModule);

parentPort.on('message', async ({ id, file }) => {
  const out = [];
  const err = [];
  const write = { stdout: process.stdout.write, stderr: process.stderr.write };
  process.stdout.write = (chunk) => (out.push(String(chunk)), true);
  process.stderr.write = (chunk) => (err.push(String(chunk)), true);
  const t0 = performance.now();
  let code;
  let thrown;
  try {
    code = await validate(file);
  } catch (e) {
    thrown = e instanceof Error ? `${e.name}: ${e.message}\n${e.stack}` : String(e);
  } finally {
    process.stdout.write = write.stdout;
    process.stderr.write = write.stderr;
  }
  const ms = performance.now() - t0;
  parentPort.postMessage({ id, code, thrown, stdout: out.join(''), stderr: err.join(''), ms, heapMb: process.memoryUsage().heapUsed / 2 ** 20 });
});
parentPort.postMessage({ ready: true });
