#!/usr/bin/env node
import { limitYoungGeneration, releaseYoungGeneration } from './proxy/memory.js';

// Held small while modules load (their allocation bursts would grow the heap for good);
// from the config's compilation on, V8 sizes it (see releaseYoungGeneration).
limitYoungGeneration();
const { main } = await import('./cli/main.js');
releaseYoungGeneration();

main(process.argv.slice(2)).then(
  (code) => {
    if (code === undefined) return;
    // A finished command exits even if something still holds the event loop: a plugin's
    // top-level timer or socket, or one whose import never settled (config/load.ts gives up on it).
    process.exitCode = code;
    process.stdout.write('', () => process.stderr.write('', () => process.exit()));
  },
  (err: unknown) => {
    process.stderr.write(`gantry: ${err instanceof Error ? err.message : String(err)}\n`);
    process.exitCode = 1;
  },
);
