import type { ConfigSource } from '../../config/source.js';
import { SYMMETRIC } from './schema.js';

type Path = (string | number)[];

/** Single-issuer fields that have no default, so their presence is the operator's choice. */
const SOURCE_FIELDS = ['issuer', 'audience', 'jwksUrl', 'keys', 'secret', 'algorithms'];

/**
 * Checks on a `jwt` entry that its schema cannot express: a key source per issuer, no
 * `issuers` mixed with single-issuer fields, discovery with an issuer, HS algorithms with
 * a secret, unique issuers.
 */
export function checkJwtEntry(entry: Record<string, unknown>, at: Path, source: ConfigSource): void {
  if (Array.isArray(entry.issuers)) {
    for (const k of SOURCE_FIELDS) if (entry[k] !== undefined) source.issueAt([...at, k], `with issuers: set ${k} on each issuer, not here`);
    if (entry.discovery === true) source.issueAt([...at, 'discovery'], 'with issuers: set discovery on each issuer, not here');
    const seen = new Set<string>();
    entry.issuers.forEach((iss: unknown, i) => {
      if (!iss || typeof iss !== 'object') return;
      const r = iss as Record<string, unknown>;
      if (typeof r.issuer !== 'string') source.issueAt([...at, 'issuers', i, 'issuer'], 'is required when several issuers share a route');
      else if (seen.has(r.issuer)) source.issueAt([...at, 'issuers', i, 'issuer'], `issuer '${r.issuer}' is listed twice`);
      else seen.add(r.issuer);
      checkIssuer(r, [...at, 'issuers', i], source);
    });
    return;
  }
  checkIssuer(entry, at, source);
}

function checkIssuer(r: Record<string, unknown>, at: Path, source: ConfigSource): void {
  const sources = ['jwksUrl', 'keys', 'secret'].filter((k) => r[k] !== undefined);
  if (r.discovery === true) sources.push('discovery');
  if (sources.length === 0) source.issueAt(at, 'needs a key source: jwksUrl, discovery: true, keys or secret');
  if (r.jwksUrl !== undefined && r.discovery === true) source.issueAt([...at, 'discovery'], 'use either jwksUrl or discovery, not both');
  if (r.discovery === true && typeof r.issuer !== 'string') source.issueAt([...at, 'issuer'], 'is required for discovery');
  if (Array.isArray(r.algorithms)) {
    const hs = r.algorithms.filter((a) => (SYMMETRIC as readonly unknown[]).includes(a));
    const octKey = Array.isArray(r.keys) && r.keys.some((k) => typeof k === 'object' && (k as { kty?: unknown })?.kty === 'oct');
    if (hs.length > 0 && r.secret === undefined && !octKey) source.issueAt([...at, 'algorithms'], `${hs.join(', ')} need a secret`);
    const asym = r.algorithms.filter((a) => !(SYMMETRIC as readonly unknown[]).includes(a));
    if (asym.length > 0 && sources.length === 1 && sources[0] === 'secret') source.issueAt([...at, 'algorithms'], `${asym.join(', ')} need public keys (jwksUrl, discovery or keys), not a secret`);
  }
  if (Array.isArray(r.keys)) {
    r.keys.forEach((k, i) => {
      if (typeof k === 'object' && k !== null && ('d' in k || ('k' in k && (k as { kty?: unknown }).kty !== 'oct'))) {
        source.issueAt([...at, 'keys', i], 'is a private key; give the public key only');
      }
    });
  }
}
