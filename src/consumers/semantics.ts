import type { GatewayConfig } from '../config/schema.js';
import type { ConfigSource } from '../config/source.js';
import type { ConsumerConfig } from './schema.js';
import { parseScryptHash } from './hash.js';
import { normalizeFingerprint } from './directory.js';
import { checkJwtEntry } from '../policies/jwt/semantics.js';
import { compileRule } from '../policies/abac/logic.js';
import { forEachPolicyEntry } from '../config/entries.js';

/** Policies whose config may name an `anonymous:` consumer. */
const AUTH_POLICIES = new Set(['api-key', 'basic-auth', 'jwt', 'oauth2-introspection', 'mtls', 'auth', 'abac']);

/**
 * Checks on `consumers:` a schema cannot express: unique ids and credentials, usable scrypt
 * hashes, and `anonymous:` references that resolve. Guards every access: runs on whatever
 * partly passed the schema.
 */
export function checkConsumers(config: GatewayConfig, source: ConfigSource): void {
  const consumers = (config as { consumers?: unknown }).consumers;
  const list: ConsumerConfig[] = Array.isArray(consumers) ? (consumers as ConsumerConfig[]) : [];
  const ids = new Set<string>();
  const seen = new Map<string, string>();
  const claim = (kind: string, value: string, owner: string, at: (string | number)[]) => {
    const key = `${kind}|${value}`;
    const prev = seen.get(key);
    if (prev !== undefined) source.issueAt(at, `this ${kind} is already used by consumer '${prev}'`);
    else seen.set(key, owner);
  };
  list.forEach((c, i) => {
    if (!c || typeof c !== 'object' || typeof c.id !== 'string') return;
    if (ids.has(c.id)) source.issueAt(['consumers', i, 'id'], `consumer id '${c.id}' is used twice`);
    ids.add(c.id);
    (Array.isArray(c.apiKeys) ? c.apiKeys : []).forEach((k, j) => {
      if (typeof k === 'string') claim('API key', k.toLowerCase(), c.id, ['consumers', i, 'apiKeys', j]);
    });
    (Array.isArray(c.basicAuth) ? c.basicAuth : []).forEach((b, j) => {
      if (typeof b?.username === 'string') claim('user name', b.username, c.id, ['consumers', i, 'basicAuth', j, 'username']);
      if (typeof b?.password === 'string') {
        const parsed = parseScryptHash(b.password);
        if (typeof parsed === 'string') source.issueAt(['consumers', i, 'basicAuth', j, 'password'], parsed);
      }
    });
    (Array.isArray(c.certificates) ? c.certificates : []).forEach((m, j) => {
      if (typeof m?.subject === 'string') claim('certificate subject', m.subject, c.id, ['consumers', i, 'certificates', j, 'subject']);
      if (typeof m?.san === 'string') claim('certificate SAN', m.san, c.id, ['consumers', i, 'certificates', j, 'san']);
      if (typeof m?.fingerprint === 'string') claim('certificate fingerprint', normalizeFingerprint(m.fingerprint), c.id, ['consumers', i, 'certificates', j, 'fingerprint']);
    });
  });
  forEachAuthEntry(config, (name, entry, at) => {
    if (typeof entry.anonymous === 'string' && !ids.has(entry.anonymous)) {
      source.issueAt([...at, 'anonymous'], `unknown consumer '${entry.anonymous}' (define it under consumers:)`);
    }
    if (name === 'jwt') checkJwtEntry(entry, at, source);
    if (name === 'abac') {
      for (const field of ['allow', 'deny'] as const) {
        if (entry[field] === undefined) continue;
        const r = compileRule(entry[field]);
        if (typeof r === 'string') source.issueAt([...at, field], r);
      }
    }
    if (name === 'auth' && Array.isArray(entry.anyOf)) {
      entry.anyOf.forEach((scheme: unknown, k: number) => {
        if (!scheme || typeof scheme !== 'object') return;
        for (const [inner, cfg] of Object.entries(scheme)) {
          if (!cfg || typeof cfg !== 'object') continue;
          if ('anonymous' in cfg) source.issueAt([...at, 'anyOf', k, inner, 'anonymous'], 'set anonymous on auth itself, not on one of its schemes');
          if (inner === 'jwt') checkJwtEntry(cfg as Record<string, unknown>, [...at, 'anyOf', k, inner], source);
        }
      });
    }
  });
}

function forEachAuthEntry(config: GatewayConfig, fn: (name: string, entry: Record<string, any>, at: (string | number)[]) => void): void {
  forEachPolicyEntry(config, (name, cfg, at) => {
    if (AUTH_POLICIES.has(name) && cfg && typeof cfg === 'object') fn(name, cfg as Record<string, any>, at);
  });
}
