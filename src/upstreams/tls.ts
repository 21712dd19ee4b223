import { createHash } from 'node:crypto';
import { createSecureContext, type ConnectionOptions } from 'node:tls';
import { Type, type Static } from '@sinclair/typebox';
import { BuildError, reasonOf } from '../config/build-error.js';
import { usableCaFile } from '../util/ca-file.js';
import { usableConfigFile } from '../util/config-file.js';
import type { GatewayConfig } from '../config/schema.js';
import type { ConfigSource } from '../config/source.js';

/**
 * How the gateway connects to `https://` targets: which CAs it trusts, the client
 * certificate it presents (mTLS to the upstream), the name it asks for (SNI) and checks in
 * the target's certificate. Without `tls:` an https target is verified against Node's
 * root CAs under its own host name, as any HTTPS client does.
 *
 * @example
 *   upstreams:
 *     payments:
 *       targets: [https://10.0.0.5:8443]
 *       tls: { ca: certs/internal-ca.pem, cert: certs/gw.pem, key: certs/gw-key.pem, serverName: payments.internal }
 */
export const UpstreamTls = Type.Object(
  {
    ca: Type.Optional(Type.String({ minLength: 1, description: "PEM file of the CA(s) that sign the targets' certificates, relative to the config file. Default: Node's root CAs." })),
    cert: Type.Optional(Type.String({ minLength: 1, description: 'PEM client certificate chain the gateway presents to the targets (mTLS); needs `key`.' })),
    key: Type.Optional(Type.String({ minLength: 1, description: 'PEM private key of `cert`.' })),
    passphrase: Type.Optional(Type.String({ description: 'Passphrase of an encrypted `key`; use `${ENV}`.' })),
    serverName: Type.Optional(
      Type.String({ minLength: 1, pattern: '^[A-Za-z0-9]([A-Za-z0-9.-]*[A-Za-z0-9])?$', description: "Name sent as SNI and checked in the target's certificate. Default: the target's host (no SNI for an IP address)." }),
    ),
    verify: Type.Boolean({ default: true, description: "`false` accepts any target certificate (expired, self-signed, another name's): for tests only." }),
    minVersion: Type.Union([Type.Literal('TLSv1.2'), Type.Literal('TLSv1.3')], { default: 'TLSv1.2', description: 'Oldest TLS version offered to targets.' }),
  },
  { additionalProperties: false, description: 'TLS to `https://` targets (and `wss` WebSocket tunnels).' },
);

export type UpstreamTlsConfig = Static<typeof UpstreamTls>;

/** The TLS client options of an upstream, with the files read; `key` identifies the material. */
export interface UpstreamTlsMaterial {
  options: ConnectionOptions;
  /** Digest of the settings and the files' bytes: a reload that rotates a file changes it. */
  key: string;
}

/**
 * Reads the files of an upstream's `tls:` into `tls.connect` options. A file that cannot be
 * read is a BuildError at its field (the caller prefixes `upstreams.<name>.tls`).
 *
 * @example readUpstreamTls({ ca: 'certs/ca.pem', verify: true }, '/etc/gantry')?.options.ca
 */
export function readUpstreamTls(cfg: UpstreamTlsConfig | undefined, baseDir: string): UpstreamTlsMaterial | undefined {
  if (cfg === undefined) return undefined;
  const digest = createHash('sha256').update(JSON.stringify({ ...cfg, passphrase: undefined }));
  // Read once per load (readConfigFile, by config object): the load check (checkUpstreamsTls)
  // and the build share the bytes.
  const read = (field: 'cert' | 'key', p: string) => {
    const bytes = usableConfigFile(cfg, baseDir, p, [field]);
    digest.update(`\u0000${field}\u0000`).update(bytes);
    return bytes;
  };
  const options: ConnectionOptions = { rejectUnauthorized: cfg.verify ?? true, minVersion: cfg.minVersion ?? 'TLSv1.2' };
  if (cfg.ca !== undefined) {
    // Read and checked once per load: the load check and the build share the bytes (readCaFile).
    options.ca = usableCaFile(cfg, baseDir, cfg.ca, ['ca']);
    digest.update('\u0000ca\u0000').update(options.ca);
  }
  if (cfg.cert !== undefined) options.cert = read('cert', cfg.cert);
  if (cfg.key !== undefined) options.key = read('key', cfg.key);
  if (cfg.passphrase !== undefined) {
    options.passphrase = cfg.passphrase;
    digest.update(`\u0000passphrase\u0000${cfg.passphrase}`);
  }
  if (cfg.serverName !== undefined) options.servername = cfg.serverName;
  try {
    // What tls.connect would meet at the first connection: a key that is not the
    // certificate's, a wrong passphrase, a certificate that is not PEM.
    createSecureContext({ ca: options.ca, cert: options.cert, key: options.key, passphrase: options.passphrase });
  } catch (e) {
    const files = [cfg.ca, cfg.cert, cfg.key].filter((f) => f !== undefined).join(', ');
    throw new BuildError(cfg.key !== undefined ? ['key'] : ['ca'], `unusable TLS material (${files}): ${reasonOf(e)}`, { cause: e });
  }
  return { options, key: digest.digest('hex') };
}

/**
 * Load-time check of every upstream's `tls:` files (`gantry validate` reports them with
 * their line): readable, and a usable CA, certificate and matching key.
 */
export function checkUpstreamsTls(config: GatewayConfig, baseDir: string, source: ConfigSource): void {
  const upstreams = config.upstreams && typeof config.upstreams === 'object' ? config.upstreams : {};
  for (const [name, u] of Object.entries(upstreams)) {
    const tls = u && typeof u === 'object' ? u.tls : undefined;
    if (!tls || typeof tls !== 'object' || (tls.cert === undefined) !== (tls.key === undefined)) continue;
    try {
      readUpstreamTls(tls, baseDir);
    } catch (e) {
      if (!(e instanceof BuildError)) throw e;
      source.issueAt(['upstreams', name, 'tls', ...e.path], e.message);
    }
  }
}
