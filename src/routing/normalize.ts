/**
 * Path normalisation, done once per request before routing; the normalised path is both
 * the path that matches and the path forwarded, so `/a/../admin`, `/%2e%2e/admin` and
 * `//admin` cannot route one way and reach the upstream another.
 *
 * - percent-encoded unreserved characters are decoded (RFC 3986 §6.2.2.2), other escapes
 *   are kept with upper-case hex (§6.2.2.1): `%2F` stays an encoded byte, never a separator;
 * - dot segments are removed (§5.2.4), after decoding, so `%2e%2e` counts as `..`;
 * - repeated slashes are merged (optional);
 * - a backslash, NUL, a control character or a malformed escape is refused (400): servers
 *   disagree about them, and disagreement is what path-confusion attacks live on;
 * - so are escapes that do not decode as UTF-8 (RFC 3629), overlong forms included
 *   (`%C0%AE` for `.`): servers read them as Latin-1, as U+FFFD or not at all.
 */

/** Characters that make the slow path necessary. */
const NEEDS_WORK = /%|\/\/|\/\.|\\|[\x00-\x1f\x7f]/;
const UNRESERVED = /[A-Za-z0-9\-._~]/;
const HEX = /^[0-9A-Fa-f]{2}$/;

/** Returns the normalised path, or `null` when the path must be refused with 400. */
export function normalizePath(path: string, mergeSlashes = true): string | null {
  if (path.length === 0 || path.charCodeAt(0) !== 47 /* / */) return null;
  if (!NEEDS_WORK.test(path)) return path;

  let decoded = '';
  let nonAscii = false;
  for (let i = 0; i < path.length; i++) {
    const c = path[i]!;
    const code = c.charCodeAt(0);
    if (code < 0x20 || code === 0x7f || c === '\\') return null;
    if (c !== '%') {
      decoded += c;
      continue;
    }
    const hex = path.slice(i + 1, i + 3);
    if (!HEX.test(hex)) return null;
    const byte = parseInt(hex, 16);
    if (byte === 0) return null;
    if (byte >= 0x80) nonAscii = true;
    const ch = String.fromCharCode(byte);
    decoded += UNRESERVED.test(ch) ? ch : '%' + hex.toUpperCase();
    i += 2;
  }
  if (nonAscii && !isUtf8(decoded)) return null;
  return removeDotSegments(mergeSlashes ? decoded.replace(/\/{2,}/g, '/') : decoded);
}

/** Whether the escapes left in a path decode as UTF-8 (`decodeURIComponent` throws on any other byte sequence). */
function isUtf8(path: string): boolean {
  try {
    decodeURIComponent(path);
    return true;
  } catch {
    return false;
  }
}

/** RFC 3986 §5.2.4 over an absolute path. */
export function removeDotSegments(path: string): string {
  const segments = path.split('/');
  const out: string[] = [];
  for (let i = 1; i < segments.length; i++) {
    const s = segments[i]!;
    if (s === '.') {
      if (i === segments.length - 1) out.push('');
      continue;
    }
    if (s === '..') {
      out.pop();
      if (i === segments.length - 1) out.push('');
      continue;
    }
    out.push(s);
  }
  return '/' + out.join('/');
}

/**
 * Splits a request target into path and query (query keeps its `?`). Absolute-form targets
 * (`http://host/path`) are reduced to their path. Returns null for forms a gateway does
 * not route (`*`, authority-form).
 */
/**
 * The authority of an absolute-form request target (`http://b.example:8080/x` →
 * `b.example:8080`), undefined for origin-form. RFC 9112 §3.2.2: a server that receives
 * the absolute form must ignore Host and use the target's authority, so that the gateway
 * routes and forwards for the host a front proxy routed by.
 *
 * @example targetAuthority('http://b.example/x?y') // 'b.example'
 */
export function targetAuthority(url: string): string | undefined {
  if (url.charCodeAt(0) === 47 /* / */ || !/^https?:\/\//i.test(url)) return undefined;
  const start = url.indexOf('//') + 2;
  let end = start;
  while (end < url.length) {
    const c = url.charCodeAt(end);
    if (c === 47 /* / */ || c === 63 /* ? */ || c === 35 /* # */) break;
    end++;
  }
  return url.slice(start, end);
}

export function splitTarget(url: string): [path: string, query: string] | null {
  let target = url;
  if (target.charCodeAt(0) !== 47 /* / */) {
    if (!/^https?:\/\//i.test(target)) return null;
    const slash = target.indexOf('/', target.indexOf('//') + 2);
    target = slash < 0 ? '/' : target.slice(slash);
  }
  const q = target.indexOf('?');
  if (q < 0) {
    const h = target.indexOf('#');
    return [h < 0 ? target : target.slice(0, h), ''];
  }
  return [target.slice(0, q), target.slice(q)];
}
