import { Pool } from 'undici';

/**
 * A small closed-loop load generator for resilience tests: `n` requests over `concurrency`
 * keep-alive connections to the gateway, bounded in count. Returns every response's
 * status, body text and latency, in completion order.
 */
export interface LoadResult {
  status: number;
  body: string;
  headers: Record<string, string | string[] | undefined>;
  ms: number;
}

export async function load(
  base: string,
  n: number,
  options: { concurrency?: number; path?: string | ((i: number) => string); method?: string; headers?: (i: number) => Record<string, string>; body?: string } = {},
): Promise<LoadResult[]> {
  const pool = new Pool(base, { connections: options.concurrency ?? 32 });
  const out: LoadResult[] = [];
  let next = 0;
  const worker = async () => {
    while (next < n) {
      const i = next++;
      const started = performance.now();
      const path = typeof options.path === 'function' ? options.path(i) : (options.path ?? '/');
      try {
        const res = await pool.request({ method: (options.method ?? 'GET') as 'GET', path, headers: options.headers?.(i), body: options.body });
        const body = await res.body.text();
        out.push({ status: res.statusCode, body, headers: res.headers, ms: performance.now() - started });
      } catch (e) {
        out.push({ status: 0, body: String((e as Error).message), headers: {}, ms: performance.now() - started });
      }
    }
  };
  await Promise.all(Array.from({ length: options.concurrency ?? 32 }, worker));
  await pool.close();
  return out;
}

/** Counts of each distinct value. */
export function tally<T>(values: readonly T[]): Map<T, number> {
  const m = new Map<T, number>();
  for (const v of values) m.set(v, (m.get(v) ?? 0) + 1);
  return m;
}
