// bench:instructions knobs (environment variables, see the header of bench/instructions.mjs),
// paths and the log line every part of it writes.
import { spawnSync } from 'node:child_process';
import { cpus } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

export const HERE = resolve(dirname(fileURLToPath(import.meta.url)), '..');
export const ROOT = resolve(HERE, '..');
export const RUN = join(HERE, '.run', 'instructions');
export const env = process.env;
export const WARM = Number(env.WARM ?? 40_000);
export const N = Number(env.N ?? 4_000);
export const CONNECTIONS = Number(env.CONNECTIONS ?? 50);
export const ROW_TIMEOUT = Number(env.ROW_TIMEOUT ?? 900);
export const ATTEMPTS = Number(env.ATTEMPTS ?? 2); // a row that failed (stall, foreign client) is measured again
// A window still in V8's optimizing compiler (> COMPILE_STEADY) is followed by WARM/2 more requests and another window.
export const WINDOWS = Number(env.WINDOWS ?? 3);
export const ONLY = env.ONLY ? new RegExp(env.ONLY, 'i') : null;
export const COMPILE_WARN = 0.03; // the table warns above this share
// Steady: below this share a window is taken. 1.4% in the compiler moved a row's count by 2%.
export const COMPILE_STEADY = 0.01;
export const has = (bin) => spawnSync('sh', ['-c', `command -v ${bin}`]).status === 0;
export const PIN = env.PIN !== '0' && has('taskset') && cpus().length >= 2;
export const LOAD_CPU = env.LOAD_CPUS ?? '0';
export const PROXY_CPU = env.PROXY_CPUS ?? '1';
export const UPSTREAM = env.UPSTREAM ?? (has('nginx') ? 'nginx' : 'node');
// Measured unless ONLY selects others; the ceiling and the baseline are always measured (ratios).
export const DEFAULT_ROWS = new Set(['bare proxy route', 'request-id + headers + access log']);

export const log = (...a) => console.error(`[bench:instructions ${new Date().toISOString().slice(11, 19)}]`, ...a);
