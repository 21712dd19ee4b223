import { createRequire } from 'node:module';

/**
 * undici checks the name of every request header it does not know, on every request: it
 * lower-cases the name and, for names of 12 characters or more, tests it against the token
 * grammar with a regular expression. Its table of known names (`headerNameLowerCasedRecord`
 * in `lib/core/constants.js`: name as given → lower-cased name) is how its well-known names
 * (Accept, User-Agent …) skip both steps. The forwarding fields the proxy adds to every
 * request are not in it: on the benchmark's bare route those checks were about 2,500 of the
 * 7,300 instructions undici spent on the five request headers (see docs/benchmarks.md).
 *
 * Names the gateway itself sends — the forwarding fields, and names a config sets (the
 * request-id header, the `headers` policy's names) — are added to that table once, lower
 * case only (the proxy sends lower-case names), after the same token check undici would
 * make, so an invalid name is still refused by undici. Values are still checked by undici
 * on every request. At most MAX_ADDED names are added, so reloads cannot grow the table
 * without bound.
 *
 * This is an addition to a dependency's internal table, written by hand because undici has
 * no API for it: when the module or the table is missing (a future undici), nothing is added
 * and undici checks names as before. `undici-names.test.ts` fails when the registration stops
 * taking effect, so an upgrade that drops the table is noticed.
 */
const record = loadRecord();
let added = 0;
const MAX_ADDED = 1024;

/** RFC 9110 §5.6.2 token, lower case: undici's own check for names it does not know. */
const LOWER_TOKEN = /^[!#$%&'*+.^_`|~0-9a-z-]+$/;

function loadRecord(): Record<string, string> | undefined {
  try {
    const constants = createRequire(import.meta.url)('undici/lib/core/constants.js') as { headerNameLowerCasedRecord?: unknown };
    const r = constants.headerNameLowerCasedRecord;
    return r !== null && typeof r === 'object' && (r as Record<string, unknown>)['user-agent'] === 'user-agent' ? (r as Record<string, string>) : undefined;
  } catch {
    return undefined;
  }
}

/**
 * Makes `name` known to undici, so requests carrying it skip undici's per-request name
 * check. Only for names the gateway sends itself, lower-cased; returns whether the name is
 * now known (false for a name that is not a token, or once the limit is reached).
 */
export function registerHeaderName(name: string): boolean {
  if (record === undefined) return false;
  if (record[name] === name) return true;
  if (added >= MAX_ADDED || !LOWER_TOKEN.test(name)) return false;
  record[name] = name;
  added++;
  return true;
}
