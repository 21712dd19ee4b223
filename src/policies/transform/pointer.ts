/**
 * JSON Pointer (RFC 6901): `/a/b~1c/0` → `['a', 'b/c', '0']`. Compiled once at load;
 * operations walk plain parsed JSON.
 */
export type Pointer = readonly string[];

/** Parses a pointer; throws on one that does not start with `/` (except the empty root ""). */
export function parsePointer(p: string): Pointer {
  if (p === '') return [];
  if (!p.startsWith('/')) throw new Error(`JSON pointer '${p}' must start with '/' (RFC 6901)`);
  return p
    .slice(1)
    .split('/')
    .map((t) => t.replace(/~1/g, '/').replace(/~0/g, '~'));
}

type Container = Record<string, unknown> | unknown[];

function isContainer(v: unknown): v is Container {
  return typeof v === 'object' && v !== null;
}

function child(c: Container, token: string): unknown {
  if (Array.isArray(c)) {
    const i = index(token, c.length, false);
    return i === undefined ? undefined : c[i];
  }
  return Object.prototype.hasOwnProperty.call(c, token) ? c[token] : undefined;
}

function index(token: string, length: number, allowEnd: boolean): number | undefined {
  if (token === '-') return allowEnd ? length : undefined;
  if (!/^(0|[1-9][0-9]*)$/.test(token)) return undefined;
  const i = Number(token);
  return i < length || (allowEnd && i === length) ? i : undefined;
}

/** The value at a pointer, or undefined. */
export function getAt(doc: unknown, p: Pointer): unknown {
  let cur = doc;
  for (const t of p) {
    if (!isContainer(cur)) return undefined;
    cur = child(cur, t);
  }
  return cur;
}

/**
 * Sets the value at a pointer, creating intermediate objects as needed (`-` appends to
 * an array). Returns the document (a new root when the pointer is the root).
 */
export function setAt(doc: unknown, p: Pointer, value: unknown): unknown {
  if (p.length === 0) return value;
  let cur: unknown = doc;
  for (let i = 0; i < p.length - 1; i++) {
    if (!isContainer(cur)) return doc;
    let next = child(cur, p[i]!);
    if (!isContainer(next)) {
      next = {};
      if (Array.isArray(cur)) {
        const at = index(p[i]!, cur.length, true);
        if (at === undefined) return doc;
        cur[at] = next;
      } else (cur as Record<string, unknown>)[p[i]!] = next;
    }
    cur = next;
  }
  if (!isContainer(cur)) return doc;
  const last = p[p.length - 1]!;
  if (Array.isArray(cur)) {
    const at = index(last, cur.length, true);
    if (at !== undefined) cur[at] = value;
  } else {
    cur[last] = value;
  }
  return doc;
}

/** Removes the value at a pointer; returns what was removed (undefined when absent). */
export function removeAt(doc: unknown, p: Pointer): unknown {
  if (p.length === 0) return undefined;
  const parent = getAt(doc, p.slice(0, -1));
  if (!isContainer(parent)) return undefined;
  const last = p[p.length - 1]!;
  if (Array.isArray(parent)) {
    const i = index(last, parent.length, false);
    return i === undefined ? undefined : parent.splice(i, 1)[0];
  }
  if (!Object.prototype.hasOwnProperty.call(parent, last)) return undefined;
  const v = parent[last];
  delete parent[last];
  return v;
}
