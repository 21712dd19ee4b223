/**
 * Content-coding negotiation (RFC 9110 §12.5.3): the client's `Accept-Encoding` with
 * q-values against the server's preference order. Results are memoised per header value
 * (clients send a handful of distinct values), so the hot path is one Map lookup.
 */
export type Coding = 'br' | 'gzip' | 'zstd' | 'deflate';

/** Picks the coding to use, or undefined for identity. `supported` is in server preference order. */
export function negotiate(header: string | undefined, supported: readonly Coding[]): Coding | undefined {
  // No Accept-Encoding: any coding is allowed in theory, but clients that omit it rarely
  // decode one (RFC 9110 §12.5.3 lets the server choose); identity is the safe answer.
  if (header === undefined || header === '') return undefined;
  const q = new Map<string, number>();
  for (const part of header.split(',')) {
    const [rawName, ...params] = part.split(';');
    const name = rawName!.trim().toLowerCase();
    if (!name) continue;
    let weight = 1;
    for (const p of params) {
      const [k, v] = p.split('=');
      if (k?.trim().toLowerCase() === 'q') {
        const n = Number(v?.trim());
        weight = Number.isFinite(n) ? Math.min(1, Math.max(0, n)) : 0;
      }
    }
    // `x-gzip` is an alias of gzip (RFC 9110 §8.4.1.3).
    q.set(name === 'x-gzip' ? 'gzip' : name, weight);
  }
  const star = q.get('*');
  let best: Coding | undefined;
  let bestQ = 0;
  for (const c of supported) {
    const w = q.get(c) ?? star ?? 0;
    if (w > bestQ) {
      best = c;
      bestQ = w;
    }
  }
  return best;
}

/** `negotiate` memoised per distinct header value (bounded). */
export function negotiator(supported: readonly Coding[], max = 256): (header: string | undefined) => Coding | undefined {
  const memo = new Map<string, Coding | null>();
  return (header) => {
    if (header === undefined) return undefined;
    const hit = memo.get(header);
    if (hit !== undefined) return hit ?? undefined;
    const r = negotiate(header, supported);
    if (memo.size >= max) memo.clear();
    memo.set(header, r ?? null);
    return r;
  };
}
