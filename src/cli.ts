#!/usr/bin/env node
import { limitYoungGeneration } from './proxy/memory.js';

// Held small while modules load and the config compiles (their allocation bursts would grow
// the heap for good); once a gateway serves, V8 sizes it (`gantry start` releases it, see
// releaseYoungGeneration). Other commands end before it matters.
limitYoungGeneration();
const { main } = await import('./cli/main.js');

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
