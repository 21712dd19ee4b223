/** A filled resolver path: the path and the query (with its `?`, or `''`). */
export interface FilledTarget {
  path: string;
  query: string;
}

/** A compiled `path` template of a resolver; `fill` returns the reason when a value is missing. */
export interface Target {
  /** `path` is the request's (normalised) path, for `{params.*}`. */
  fill(parent: unknown, args: Record<string, unknown>, params: Record<string, string | undefined>, path?: string): FilledTarget | string;
}

type Piece = string | { raw: string; source: 'args' | 'parent' | 'params'; keys: string[] };

/**
 * Compiles `/products/{args.id}?lang={params.lang}` once. Each placeholder takes a value
 * from the field's arguments, its parent object (the upstream JSON the parent field
 * resolved to) or the route's params, reaching into objects by dotted names, and is
 * percent-encoded as one path segment or query value (RFC 3986 §3.3, §3.4), so a value
 * cannot add `/`, `?`, `&` or `..`. Strings, numbers and booleans fill in; a missing
 * value in the path is an error, in the query it leaves the value empty. In the path,
 * `{params.*}` is `rest` of the request's path: what the route's trailing `*` matched, as
 * sent (`compileWildcardRest` in routing/matchers.ts), as in rewrite templates; after the
 * `?` it is one query value like any other.
 *
 * @example
 *   compileTarget('/stock/{parent.id}').fill({ id: 7 }, {}, {}) // { path: '/stock/7', query: '' }
 *   compileTarget('/files/{params.*}', compileWildcardRest({ path: '/f/*' })).fill({}, {}, {}, '/f/a%2Fb/c') // { path: '/files/a%2Fb/c', query: '' }
 */
export function compileTarget(template: string, rest?: (path: string) => string | undefined): Target {
  const q = template.indexOf('?');
  const path = compilePieces(q < 0 ? template : template.slice(0, q));
  const query = q < 0 ? undefined : compilePieces(template.slice(q));
  const usesRest = path.some((p) => typeof p !== 'string' && p.source === 'params' && p.keys.length === 1 && p.keys[0] === '*');
  const restOf = usesRest ? rest : undefined;
  return {
    fill(parent, args, params, requestPath = '') {
      const p = fillPieces(path, parent, args, params, true, restOf?.(requestPath));
      if (p.error !== undefined) return p.error;
      if (query === undefined) return { path: p.out, query: '' };
      const qs = fillPieces(query, parent, args, params, false);
      if (qs.error !== undefined) return qs.error;
      return { path: p.out, query: qs.out };
    },
  };
}

function compilePieces(template: string): Piece[] {
  return template
    .split(/(\{[^}]*\})/)
    .filter((s) => s !== '')
    .map((s) => {
      if (!s.startsWith('{')) return s;
      const [source, ...keys] = s.slice(1, -1).split('.');
      return { raw: s, source: source as 'args' | 'parent' | 'params', keys };
    });
}

function fillPieces(pieces: readonly Piece[], parent: unknown, args: Record<string, unknown>, params: Record<string, string | undefined>, required: boolean, rest?: string): { out: string; error?: string } {
  let out = '';
  for (const piece of pieces) {
    if (typeof piece === 'string') {
      out += piece;
      continue;
    }
    if (rest !== undefined && piece.source === 'params' && piece.keys.length === 1 && piece.keys[0] === '*') {
      out += rest;
      continue;
    }
    const from = piece.source === 'args' ? args : piece.source === 'parent' ? parent : params;
    const v = lookup(from, piece.keys);
    if (typeof v === 'string' || typeof v === 'number' || typeof v === 'boolean') out += encodeURIComponent(String(v));
    else if (v === undefined || v === null) {
      if (required) return { out, error: `${piece.raw} has no value` };
    } else return { out, error: `${piece.raw} is not a string, number or boolean` };
  }
  return { out };
}

function lookup(from: unknown, keys: readonly string[]): unknown {
  let v = from;
  for (const k of keys) {
    if (v === null || typeof v !== 'object' || !Object.hasOwn(v, k)) return undefined;
    v = (v as Record<string, unknown>)[k];
  }
  return v;
}
