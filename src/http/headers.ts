/**
 * Header lists as flat arrays `[name, value, name, value, …]`: the shape Node's
 * `rawHeaders`, `writeHead` and undici's `dispatch` all accept, so the data path never
 * converts to and from objects. Names keep the case they arrived with; lookups compare
 * lower-cased names.
 *
 * @example
 *   const h = ['Content-Type', 'text/plain'];
 *   setHeader(h, 'x-id', '1'); getHeader(h, 'content-type'); // 'text/plain'
 */
export type HeaderList = string[];

/**
 * Whether a request carries a body (RFC 9112 §6.3): a Content-Length other than 0, or a
 * Transfer-Encoding (a request with both never gets this far).
 */
export function hasRequestBody(headers: { readonly [name: string]: string | string[] | undefined }): boolean {
  const cl = headers['content-length'];
  return cl !== undefined ? cl !== '0' : headers['transfer-encoding'] !== undefined;
}

/** Whether a Content-Type names JSON: `application/json` or any `application/*+json` (RFC 6839). */
export function isJsonType(contentType: string | undefined): boolean {
  if (contentType === undefined) return false;
  const semi = contentType.indexOf(';');
  const mt = (semi < 0 ? contentType : contentType.slice(0, semi)).trim().toLowerCase();
  return mt === 'application/json' || (mt.startsWith('application/') && mt.endsWith('+json'));
}

/** First value of a header, or undefined. `name` must be lower case. */
export function getHeader(list: HeaderList, name: string): string | undefined {
  for (let i = 0; i < list.length; i += 2) {
    if (list[i]!.length === name.length && list[i]!.toLowerCase() === name) return list[i + 1];
  }
  return undefined;
}

/** Removes every occurrence of a header. `name` must be lower case. Returns how many were removed. */
export function removeHeader(list: HeaderList, name: string): number {
  let w = 0;
  for (let r = 0; r < list.length; r += 2) {
    const n = list[r]!;
    if (n.length === name.length && n.toLowerCase() === name) continue;
    if (w !== r) {
      list[w] = n;
      list[w + 1] = list[r + 1]!;
    }
    w += 2;
  }
  const removed = (list.length - w) / 2;
  // Setting `length` is a runtime call even when it does not change: only when something went.
  if (removed > 0) list.length = w;
  return removed;
}

/** Replaces every occurrence of a header with one value. `name` must be lower case. */
export function setHeader(list: HeaderList, name: string, value: string): void {
  removeHeader(list, name);
  list.push(name, value);
}

/** Appends a header, keeping existing values (for lists such as `Via` or `Set-Cookie`). */
export function appendHeader(list: HeaderList, name: string, value: string): void {
  list.push(name, value);
}

/** Converts a header object (as from config) to a flat list. */
export function toHeaderList(headers: Record<string, string> | undefined): HeaderList {
  const out: HeaderList = [];
  if (headers) for (const k of Object.keys(headers)) out.push(k.toLowerCase(), headers[k]!);
  return out;
}
