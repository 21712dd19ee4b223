/**
 * Query-string helpers for credentials sent as parameters. Only called when the credential
 * was not in its header, so `URLSearchParams` parsing stays off the common path.
 */

/** Value of the first `name` parameter in `?a=1&b=2`, or undefined. */
export function queryParam(query: string, name: string): string | undefined {
  const v = new URLSearchParams(query).get(name);
  return v === null ? undefined : v;
}

/**
 * The query string without any `name` parameter, other parameters byte-for-byte as sent.
 *
 * @example withoutQueryParam('?api_key=k&x=1', 'api_key') // '?x=1'
 */
export function withoutQueryParam(query: string, name: string): string {
  const kept = query
    .slice(1)
    .split('&')
    .filter((pair) => {
      const eq = pair.indexOf('=');
      const raw = eq < 0 ? pair : pair.slice(0, eq);
      return safeDecode(raw) !== name;
    });
  return kept.length === 0 ? '' : `?${kept.join('&')}`;
}

function safeDecode(s: string): string {
  try {
    return decodeURIComponent(s.replaceAll('+', ' '));
  } catch {
    return s;
  }
}
