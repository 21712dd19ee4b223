#!/usr/bin/env node
import { limitYoungGeneration, releaseYoungGeneration } from './proxy/memory.js';

// Before anything else loads: module loading and config compilation are what would grow the heap.
limitYoungGeneration();
const { main } = await import('./cli/main.js');

main(process.argv.slice(2)).then(
  (code) => {
    // `start` resolves once the gateway serves: from here on V8 sizes the heap for the load.
    releaseYoungGeneration();
    if (code !== undefined) process.exitCode = code;
  },
  (err: unknown) => {
    process.stderr.write(`gantry: ${err instanceof Error ? err.message : String(err)}\n`);
    process.exitCode = 1;
  },
);
