/**
 * Allowed CORS origins, compiled once at load. An origin is the serialisation a browser
 * sends in `Origin` (RFC 6454 §6.2: `scheme://host[:port]`, lower case, no default port)
 * or the opaque `null`.
 */
export interface OriginMatcher {
  /** `*` is listed: every origin is allowed. */
  readonly any: boolean;
  /** Whether `origin` (the request's Origin header, as sent) is allowed. */
  match(origin: string): boolean;
}

/**
 * Compiles `origins` (exact, `*`, `null`, `scheme://*.domain[:port]`) and `originRegex`.
 * Entries were checked by `originProblem` at config load.
 *
 * @example
 *   const m = compileOrigins(['https://app.example.com', 'https://*.example.com'], []);
 *   m.match('https://a.b.example.com'); // true
 *   m.match('https://example.com');     // false (the apex is not a subdomain)
 */
export function compileOrigins(origins: readonly string[], regexes: readonly string[]): OriginMatcher {
  const exact = new Set<string>();
  const patterns: RegExp[] = regexes.map((r) => new RegExp(r));
  let any = false;
  for (const o of origins) {
    if (o === '*') any = true;
    else if (o === 'null') exact.add('null');
    else if (o.includes('*')) patterns.push(wildcardRegex(o));
    else exact.add(new URL(o).origin);
  }
  return {
    any,
    match(origin) {
      if (any || exact.has(origin)) return true;
      for (let i = 0; i < patterns.length; i++) if (patterns[i]!.test(origin)) return true;
      return false;
    },
  };
}

/** `https://*.example.com:8443` → one or more DNS labels in place of `*`, nothing else. */
function wildcardRegex(pattern: string): RegExp {
  const star = pattern.indexOf('*.');
  const head = pattern.slice(0, star).toLowerCase();
  const tail = new URL(pattern.slice(0, star) + 'x' + pattern.slice(star + 1)).origin.slice(head.length + 1);
  return new RegExp(`^${escape(head)}[a-z0-9-]+(?:\\.[a-z0-9-]+)*${escape(tail)}$`);
}

function escape(s: string): string {
  return s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}

/**
 * Why an `origins` entry is not one the matcher understands, or undefined when it is.
 *
 * @example
 *   originProblem('https://app.example.com/');  // 'must be an origin without a path …'
 */
export function originProblem(entry: string): string | undefined {
  if (entry === '*' || entry === 'null') return undefined;
  const wildcard = entry.includes('*');
  if (wildcard && !/^[a-z][a-z0-9+.-]*:\/\/\*\.[^*]+$/i.test(entry)) {
    return "a wildcard must be a whole leftmost label: 'https://*.example.com'";
  }
  const probe = wildcard ? entry.replace('*.', 'x.') : entry;
  let origin: string;
  try {
    origin = new URL(probe).origin;
  } catch {
    return "must be an origin such as 'https://app.example.com', '*', 'null' or 'https://*.example.com'";
  }
  if (origin === 'null') return "must be an http(s) origin such as 'https://app.example.com'";
  if (origin !== probe.toLowerCase()) return `must be an origin (scheme://host[:port], no path or default port): '${origin}'`;
  return undefined;
}
