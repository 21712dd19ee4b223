import { Buffer } from 'node:buffer';
import { createPrivateKey, type KeyObject } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import type { GatewayConfig } from '../../config/schema.js';
import type { ConfigSource } from '../../config/source.js';
import { forEachPolicyEntry } from '../../config/entries.js';

/** Signing algorithms `internal-token` offers (RFC 7518 §3.1, RFC 8037 §3.1). */
export const ALGS = ['RS256', 'PS256', 'ES256', 'ES384', 'EdDSA'] as const;
export type SigningAlg = (typeof ALGS)[number];

/** A key that cannot sign: the config field to blame and what is wrong. */
export interface KeyProblem {
  field: 'key' | 'alg';
  message: string;
}

/**
 * The key each algorithm needs. RSA keys must be rsaEncryption keys of 2048 bits or more
 * (RFC 7518 §3.3, §3.5); RSA-PSS-restricted keys cannot be imported by WebCrypto, which
 * jose signs with on Node 20. ECDSA keys must be on the curve the algorithm names (RFC 7518 §3.4);
 * EdDSA is Ed25519 (jose has no Ed448).
 */
const FIT: Record<SigningAlg, { type: string; curve?: string; minBits?: number; needs: string }> = {
  RS256: { type: 'rsa', minBits: 2048, needs: 'an RSA key of 2048 bits or more' },
  PS256: { type: 'rsa', minBits: 2048, needs: 'an RSA key of 2048 bits or more (not an RSA-PSS-restricted one)' },
  ES256: { type: 'ec', curve: 'prime256v1', needs: 'an EC P-256 key' },
  ES384: { type: 'ec', curve: 'secp384r1', needs: 'an EC P-384 key' },
  EdDSA: { type: 'ed25519', needs: 'an Ed25519 key' },
};

/**
 * Reads a PEM private key, checks it fits `alg` and signs a trial token with it, so a key that passes here signs every request. `shown` is the path as
 * the config wrote it, for messages.
 *
 * @example
 *   const k = await loadSigningKey('/etc/gantry/keys/gw.pem', 'keys/gw.pem', 'ES256');
 *   if ('message' in k) throw new Error(k.message);
 */
export async function loadSigningKey(file: string, shown: string, alg: SigningAlg): Promise<KeyObject | KeyProblem> {
  let pem: Buffer;
  try {
    pem = readFileSync(file);
  } catch (e) {
    return { field: 'key', message: `cannot read ${shown}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}` };
  }
  let key: KeyObject;
  try {
    key = createPrivateKey(pem);
  } catch (e) {
    return { field: 'key', message: `${shown} holds no usable PEM private key: ${pemProblem(pem.toString('latin1')) ?? (e as Error).message}` };
  }
  const misfit = fitProblem(key, alg);
  if (misfit !== undefined) return { field: 'alg', message: `${alg} needs ${FIT[alg].needs}; ${shown} holds ${misfit}` };
  // jose is loaded only by configs that mint tokens.
  const { SignJWT } = await import('jose');
  try {
    await new SignJWT({}).setProtectedHeader({ alg }).sign(key);
    return key;
  } catch (e) {
    return { field: 'alg', message: `${alg} cannot sign with the key in ${shown}: ${(e as Error).message}` };
  }
}

/** OpenSSL's decoder errors say little; name the usual causes (RFC 7468 labels). */
function pemProblem(text: string): string | undefined {
  if (!text.includes('-----BEGIN ')) return 'the file is not PEM';
  if (/-----BEGIN ENCRYPTED PRIVATE KEY-----|Proc-Type: 4,ENCRYPTED/.test(text)) return 'the key is encrypted; internal-token takes an unencrypted key';
  if (!/-----BEGIN [A-Z ]*PRIVATE KEY-----/.test(text)) return 'it holds no PRIVATE KEY block (a public key or certificate?)';
  return undefined;
}

/** What is wrong with `key` for `alg` (a description of the key), or undefined when it fits. */
function fitProblem(key: KeyObject, alg: SigningAlg): string | undefined {
  const want = FIT[alg];
  const type = key.asymmetricKeyType ?? 'unknown';
  const d = key.asymmetricKeyDetails ?? {};
  const has = type === 'ec' ? `an EC ${d.namedCurve ?? ''} key` : type === 'rsa' || type === 'rsa-pss' ? `a ${d.modulusLength ?? '?'}-bit ${type.toUpperCase()} key` : `an ${type} key`;
  if (type !== want.type) return has;
  if (want.curve !== undefined && d.namedCurve !== want.curve) return has;
  if (want.minBits !== undefined && (d.modulusLength ?? 0) < want.minBits) return has;
  return undefined;
}

/**
 * Load-time check of every `internal-token` entry (global and per route): its key file is
 * readable, holds a private key, and fits `alg`. Errors name the config line, like TLS
 * files (listeners/tls.ts), so a bad key fails `validate`, start and reload before any
 * route is built; a rejected reload leaves the serving config in place.
 */
export async function checkInternalTokenKeys(config: GatewayConfig, baseDir: string, source: ConfigSource): Promise<void> {
  const seen = new Map<string, Promise<KeyObject | KeyProblem>>();
  for (const [at, entry] of internalTokenEntries(config)) {
    // A missing key or an unknown alg is reported by the schema.
    if (typeof entry.key !== 'string' || !(ALGS as readonly unknown[]).includes(entry.alg)) continue;
    const alg = entry.alg as SigningAlg;
    const file = resolve(baseDir, entry.key);
    // Several routes often share one key: read and trial-sign it once per load.
    const id = `${alg}\n${file}`;
    let p = seen.get(id);
    if (p === undefined) seen.set(id, (p = loadSigningKey(file, entry.key, alg)));
    const r = await p;
    if ('message' in r) source.issueAt([...at, r.field], r.message);
  }
}

function internalTokenEntries(config: GatewayConfig): [(string | number)[], Record<string, unknown>][] {
  const out: [(string | number)[], Record<string, unknown>][] = [];
  forEachPolicyEntry(config, (name, cfg, at) => {
    if (name === 'internal-token' && cfg && typeof cfg === 'object') out.push([at, cfg as Record<string, unknown>]);
  });
  return out;
}
