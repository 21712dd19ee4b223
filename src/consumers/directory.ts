import { Buffer } from 'node:buffer';
import { createHash, timingSafeEqual } from 'node:crypto';
import type { Consumer } from '../pipeline/context.js';
import type { GatewayConfig } from '../config/schema.js';
import type { ConsumerConfig } from './schema.js';
import { parseScryptHash, type ScryptHash } from './hash.js';
import { identityHeaders } from './identity.js';

/**
 * A consumer as the data path sees it: the `Consumer` set on `ctx.consumer`, plus the
 * header values propagated upstream, computed once (at load for configured consumers, once
 * per verified token for token consumers) instead of per request.
 */
export interface Identity extends Consumer {
  readonly scopes: readonly string[];
  /** `X-Authenticated-Scopes` value: scopes joined by a space (RFC 6749 §3.3). */
  readonly scopeHeader: string;
  /** Let through by `anonymous:` without a credential. */
  readonly anonymous: boolean;
  /** The identity headers sent upstream, as a flat `[name, value, …]` list (consumers/identity.ts). */
  readonly upstreamHeaders: readonly string[];
}

/**
 * Builds an identity from its parts, precomputing the header values.
 *
 * @example makeIdentity({ id: 'acme', tenant: 'acme', scopes: ['read'] }).scopeHeader // 'read'
 */
export function makeIdentity(c: Omit<Consumer, 'scopes'> & { scopes?: readonly string[] | undefined; anonymous?: boolean }): Identity {
  const scopes = c.scopes ?? [];
  const scopeHeader = scopes.join(' ');
  const anonymous = c.anonymous ?? false;
  return Object.freeze({
    id: c.id,
    tenant: c.tenant,
    tier: c.tier,
    scopes,
    claims: c.claims,
    scopeHeader,
    anonymous,
    upstreamHeaders: identityHeaders(c.id, c.tenant, c.tier, scopeHeader, anonymous),
  });
}

interface KeyEntry {
  digest: Buffer;
  identity: Identity;
}

interface BasicEntry {
  hash: ScryptHash;
  identity: Identity;
}

/**
 * The `consumers:` section compiled into lookup maps, once per config load and shared by
 * every auth policy of that config.
 *
 * @example
 *   const dir = ConsumerDirectory.of(config);
 *   dir.byApiKey(ctx.header('x-api-key'))?.id
 */
export class ConsumerDirectory {
  readonly #byId = new Map<string, Identity>();
  readonly #apiKeys = new Map<string, KeyEntry>();
  readonly #basic = new Map<string, BasicEntry>();
  readonly #subjects = new Map<string, Identity>();
  readonly #sans = new Map<string, Identity>();
  readonly #fingerprints = new Map<string, Identity>();

  constructor(consumers: readonly ConsumerConfig[]) {
    for (const c of consumers) {
      const identity = makeIdentity({ id: c.id, tenant: c.tenant, tier: c.tier, scopes: c.scopes ?? [] });
      this.#byId.set(c.id, identity);
      for (const k of c.apiKeys ?? []) {
        const hex = k.slice('sha256:'.length).toLowerCase();
        this.#apiKeys.set(hex, { digest: Buffer.from(hex, 'hex'), identity });
      }
      for (const b of c.basicAuth ?? []) {
        const hash = parseScryptHash(b.password);
        // Unusable hashes are reported by consumers/semantics.ts; skipping keeps the build total.
        if (typeof hash !== 'string') this.#basic.set(b.username, { hash, identity });
      }
      for (const m of c.certificates ?? []) {
        if (m.subject !== undefined) this.#subjects.set(m.subject, identity);
        if (m.san !== undefined) this.#sans.set(m.san, identity);
        if (m.fingerprint !== undefined) this.#fingerprints.set(normalizeFingerprint(m.fingerprint), identity);
      }
    }
  }

  /** The directory of a config, built on first use and shared by all its policies. */
  static of(config: GatewayConfig): ConsumerDirectory {
    let dir = DIRECTORIES.get(config);
    if (dir === undefined) {
      dir = new ConsumerDirectory((config as { consumers?: ConsumerConfig[] }).consumers ?? []);
      DIRECTORIES.set(config, dir);
    }
    return dir;
  }

  get size(): number {
    return this.#byId.size;
  }

  byId(id: string): Identity | undefined {
    return this.#byId.get(id);
  }

  /**
   * The consumer owning an API key. The map is keyed by the key's SHA-256 digest, so the
   * lookup's timing depends only on the digest, which an attacker cannot steer towards a
   * valid key; the final comparison is constant-time all the same.
   */
  byApiKey(key: string): Identity | undefined {
    const digest = createHash('sha256').update(key, 'utf8').digest();
    const entry = this.#apiKeys.get(digest.toString('hex'));
    if (entry === undefined || !timingSafeEqual(entry.digest, digest)) return undefined;
    return entry.identity;
  }

  /** The stored scrypt hash and identity for a Basic user name. */
  basicUser(username: string): BasicEntry | undefined {
    return this.#basic.get(username);
  }

  bySubject(cn: string): Identity | undefined {
    return this.#subjects.get(cn);
  }

  bySan(san: string): Identity | undefined {
    return this.#sans.get(san);
  }

  /** By SHA-256 fingerprint in any accepted spelling. */
  byFingerprint(fp: string): Identity | undefined {
    return this.#fingerprints.get(normalizeFingerprint(fp));
  }
}

const DIRECTORIES = new WeakMap<GatewayConfig, ConsumerDirectory>();

/** `sha256:AB:CD:…`, `ab:cd…`, `abcd…` → `abcd…`. */
export function normalizeFingerprint(fp: string): string {
  return fp.replace(/^sha256:/i, '').replaceAll(':', '').toLowerCase();
}
