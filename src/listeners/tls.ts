import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { createSecureContext, type SecureContextOptions, type TlsOptions } from 'node:tls';
import { Type, type Static } from '@sinclair/typebox';
import type { GatewayConfig } from '../config/schema.js';
import type { ConfigSource } from '../config/source.js';
import { BuildError, reasonOf } from '../config/build-error.js';

/**
 * TLS settings of an `https` or `h2` listener (h2 also offers `h2` by ALPN, RFC 7301). TLS 1.2 is the floor (RFC 8996 deprecates 1.0 and
 * 1.1; RFC 9325 §3.1.1); 1.3 is negotiated whenever the client offers it, and
 * `minVersion: TLSv1.3` refuses 1.2 altogether. With `clientCa` the listener asks for a
 * client certificate (mTLS): `optional` lets requests without one (or with an untrusted
 * one) reach the pipeline, where the `mtls` policy decides; `required` refuses them in the
 * handshake.
 *
 * @example
 *   listeners:
 *     - { name: secure, port: 8443, protocol: https,
 *         tls: { cert: certs/gw.pem, key: certs/gw-key.pem, clientCa: certs/ca.pem, clientAuth: optional } }
 */
export const ListenerTls = Type.Object(
  {
    cert: Type.String({ minLength: 1, description: 'PEM certificate chain file (leaf first), relative to the config file.' }),
    key: Type.String({ minLength: 1, description: 'PEM private key file.' }),
    passphrase: Type.Optional(Type.String({ description: 'Passphrase of an encrypted key; use `${ENV}`.' })),
    clientCa: Type.Optional(Type.String({ minLength: 1, description: 'PEM file of the CA(s) that sign client certificates; enables mTLS.' })),
    clientAuth: Type.Union([Type.Literal('optional'), Type.Literal('required')], {
      default: 'optional',
      description: 'With clientCa: `optional` (the mtls policy decides per route) or `required` (no trusted certificate, no handshake).',
    }),
    minVersion: Type.Union([Type.Literal('TLSv1.2'), Type.Literal('TLSv1.3')], { default: 'TLSv1.2', description: 'Oldest TLS version accepted.' }),
  },
  { additionalProperties: false, description: 'TLS for an https or h2 listener.' },
);

export type ListenerTlsConfig = Static<typeof ListenerTls>;

/**
 * Reads the files of a TLS config into Node's server options.
 *
 * @example https.createServer({ ...tlsServerOptions(cfg.tls, baseDir) }, handler)
 */
export function tlsServerOptions(cfg: ListenerTlsConfig, baseDir: string): TlsOptions {
  // Checked at load; a file can still go missing before the build (a reload re-reads them).
  const read = (field: 'cert' | 'key' | 'clientCa', p: string) => {
    try {
      return readFileSync(resolve(baseDir, p));
    } catch (e) {
      throw new BuildError([field], `cannot read ${p}: ${reasonOf(e)}`, { cause: e });
    }
  };
  const opts: TlsOptions = {
    cert: read('cert', cfg.cert),
    key: read('key', cfg.key),
    minVersion: cfg.minVersion ?? 'TLSv1.2',
    maxVersion: 'TLSv1.3',
    ALPNProtocols: ['http/1.1'],
  };
  if (cfg.passphrase !== undefined) opts.passphrase = cfg.passphrase;
  if (cfg.clientCa !== undefined) {
    opts.ca = read('clientCa', cfg.clientCa);
    opts.requestCert = true;
    opts.rejectUnauthorized = cfg.clientAuth === 'required';
  }
  return opts;
}

/**
 * Config checks for TLS listeners, with file/line/path: `https` and `h2` need `tls`, `tls`
 * needs one of them, and the files must exist and hold a usable certificate and matching key.
 */
export function checkListenersTls(config: GatewayConfig, baseDir: string, source: ConfigSource): void {
  const listeners = Array.isArray(config.listeners) ? config.listeners : [];
  listeners.forEach((l, i) => {
    if (!l || typeof l !== 'object') return;
    const tls = (l as { tls?: ListenerTlsConfig }).tls;
    const secure = l.protocol === 'https' || l.protocol === 'h2';
    if (secure && tls === undefined) source.issueAt(['listeners', i, 'tls'], `is required for protocol ${l.protocol} (cert and key)`);
    if (!secure && tls !== undefined) source.issueAt(['listeners', i, 'tls'], `has no effect on protocol ${l.protocol ?? 'http'}; use protocol: https or h2`);
    if (!secure || !tls || typeof tls.cert !== 'string' || typeof tls.key !== 'string') return;
    for (const field of ['cert', 'key', 'clientCa'] as const) {
      const p = tls[field];
      if (typeof p !== 'string') continue;
      try {
        readFileSync(resolve(baseDir, p));
      } catch (e) {
        source.issueAt(['listeners', i, 'tls', field], `cannot read ${p}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`);
        return;
      }
    }
    try {
      createSecureContext(tlsServerOptions(tls, baseDir) as SecureContextOptions);
    } catch (e) {
      source.issueAt(['listeners', i, 'tls'], `unusable certificate or key: ${(e as Error).message}`);
    }
  });
}
