import type { X509Certificate } from 'node:crypto';

/**
 * Server names of TLS listeners: the rules a `serverNames` entry must follow, the lookup
 * that picks a certificate by the name a client sends in SNI (RFC 6066 §3), and whether a
 * certificate is valid for a name (RFC 6125 §6.4).
 *
 * Matching follows RFC 6125 §6.4.3 as browsers apply it: a wildcard is the whole leftmost
 * label (`*.shop.example.com`) and stands for exactly one label (`a.shop.example.com`, not
 * `shop.example.com` nor `a.b.shop.example.com`); names compare case-insensitively (DNS
 * names are, RFC 4343); an exact name wins over a wildcard that also matches.
 */

/** One DNS label: letters, digits and inner hyphens, 1-63 characters (RFC 1123 §2.1). */
const LABEL = /^[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?$/;
const IPV4 = /^\d{1,3}(?:\.\d{1,3}){3}$/;

/**
 * Why `name` cannot be a server name, or undefined when it can. Names are DNS names in
 * A-label form, optionally with a wildcard leftmost label followed by two labels or more.
 *
 * @example
 *   serverNameProblem('*.shop.example.com') // undefined
 *   serverNameProblem('a.*.example.com')    // 'a wildcard must be the whole leftmost label …'
 */
export function serverNameProblem(name: string): string | undefined {
  if (name.endsWith('.')) return `'${name}': write server names without a trailing dot`;
  if (IPV4.test(name) || name.includes(':')) return `'${name}': an IP address cannot be a server name (SNI carries DNS names only, RFC 6066 §3)`;
  if (name.length > 253) return `'${name}': a DNS name is at most 253 characters`;
  const labels = name.toLowerCase().split('.');
  const wildcard = labels[0] === '*';
  if (wildcard && labels.length < 3) return `'${name}': a wildcard needs two labels or more after it (*.example.com)`;
  for (let i = wildcard ? 1 : 0; i < labels.length; i++) {
    const label = labels[i]!;
    if (label.includes('*')) return `'${name}': a wildcard must be the whole leftmost label, as in *.example.com (RFC 6125 §6.4.3)`;
    if (/[^\x00-\x7f]/.test(label)) return `'${name}': write internationalised names in A-label form (xn--…)`;
    if (!LABEL.test(label)) return `'${name}': '${label}' is not a DNS label (letters, digits, inner hyphens, 1-63 characters)`;
  }
  return undefined;
}

/**
 * The certificate a handshake gets by the name its client sent: exact names first, then
 * wildcards (one label), else `fallback`; `refuse` when the listener requires a known name.
 * Built once per config; a lookup is one or two Map reads.
 *
 * @example
 *   const table = new SniTable<Ctx>();
 *   table.add('api.example.com', a); table.add('*.shop.example.com', b);
 *   table.lookup('EU.Shop.example.com') // b
 */
export class SniTable<T> {
  readonly #exact = new Map<string, T>();
  /** Wildcard entries by the part after `*.`. */
  readonly #wild = new Map<string, T>();

  get size(): number {
    return this.#exact.size + this.#wild.size;
  }

  /** Adds `name` (checked by `serverNameProblem`); false when it is already there. */
  add(name: string, value: T): boolean {
    const lower = name.toLowerCase();
    const [map, key] = lower.startsWith('*.') ? [this.#wild, lower.slice(2)] : [this.#exact, lower];
    if (map.has(key)) return false;
    map.set(key, value);
    return true;
  }

  /** The entry for `servername` as a client sent it (any case, a trailing dot tolerated). */
  lookup(servername: string): T | undefined {
    let name = servername.toLowerCase();
    if (name.endsWith('.')) name = name.slice(0, -1);
    const exact = this.#exact.get(name);
    if (exact !== undefined) return exact;
    if (this.#wild.size === 0) return undefined;
    const dot = name.indexOf('.');
    // `*.b.c` stands for exactly one non-empty label in front of `b.c`.
    return dot > 0 ? this.#wild.get(name.slice(dot + 1)) : undefined;
  }
}

/**
 * The DNS names of a certificate: its `DNS:` subject alternative names, or its subject CN
 * when it has none (how TLS clients still read such certificates).
 *
 * @example certificateNames(new X509Certificate(pem)) // ['api.example.com', '*.shop.example.com']
 */
export function certificateNames(cert: X509Certificate): string[] {
  const san = cert.subjectAltName;
  // Node quotes entries holding separators (never a valid DNS name): those are skipped.
  const names = san === undefined ? [] : san.split(', ').filter((e) => e.startsWith('DNS:') && !e.startsWith('DNS:"')).map((e) => e.slice(4).toLowerCase());
  if (names.length > 0) return names;
  const cn = /(?:^|\n)CN=([^\n]+)/.exec(cert.subject)?.[1];
  return cn === undefined ? [] : [cn.toLowerCase()];
}

/**
 * Whether a certificate naming `certNames` is valid for `serverName` (RFC 6125 §6.4): an
 * exact name is covered by the same name or by a wildcard for its parent; a wildcard server
 * name only by the same wildcard.
 *
 * @example covers(['*.example.com'], 'api.example.com') // true
 */
export function covers(certNames: readonly string[], serverName: string): boolean {
  const name = serverName.toLowerCase();
  if (certNames.includes(name)) return true;
  if (name.startsWith('*.')) return false;
  const dot = name.indexOf('.');
  return dot > 0 && certNames.includes(`*.${name.slice(dot + 1)}`);
}
