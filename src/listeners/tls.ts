import { constants as cryptoConstants, createHash, X509Certificate } from 'node:crypto';
import { createSecureContext, type SecureContext, type SecureContextOptions, type Server as TlsServer, type TLSSocket, type TlsOptions } from 'node:tls';
import { Type, type Static } from '@sinclair/typebox';
import { BuildError, reasonOf } from '../config/build-error.js';
import { certificateNames, SniTable } from './tls-names.js';
import { usableCaFile } from '../util/ca-file.js';
import { usableConfigFile } from '../util/config-file.js';

/**
 * One certificate of a listener chosen by SNI (RFC 6066 §3) for the names it lists.
 *
 * @example
 *   { serverNames: [api.example.com, "*.shop.example.com"], cert: certs/api.pem, key: certs/api-key.pem }
 */
export const ListenerTlsCertificate = Type.Object(
  {
    serverNames: Type.Array(Type.String({ minLength: 1 }), {
      minItems: 1,
      description: 'DNS names this certificate is served for: exact (`api.example.com`) or a wildcard leftmost label (`*.shop.example.com`, one label). Case-insensitive; each name once per listener.',
    }),
    cert: Type.String({ minLength: 1, description: 'PEM certificate chain file (leaf first), relative to the config file; must be valid for every name in serverNames.' }),
    key: Type.String({ minLength: 1, description: 'PEM private key file of that certificate.' }),
    passphrase: Type.Optional(Type.String({ description: 'Passphrase of an encrypted key; use `${ENV}`.' })),
  },
  { additionalProperties: false, description: 'A certificate served for the server names a client asks for (SNI).' },
);

/**
 * TLS settings of an `https` or `h2` listener (h2 also offers `h2` by ALPN, RFC 7301). TLS 1.2 is the floor (RFC 8996 deprecates 1.0 and
 * 1.1; RFC 9325 §3.1.1); 1.3 is negotiated whenever the client offers it, and
 * `minVersion: TLSv1.3` refuses 1.2 altogether. With `clientCa` the listener asks for a
 * client certificate (mTLS): `optional` lets requests without one (or with an untrusted
 * one) reach the pipeline, where the `mtls` policy decides; `required` refuses them in the
 * handshake. `cert`/`key` is the default certificate; `certificates` adds more, chosen by
 * the server name the client sends (SNI); client CA, versions and ALPN hold for all.
 *
 * @example
 *   listeners:
 *     - { name: secure, port: 8443, protocol: https,
 *         tls: { cert: certs/gw.pem, key: certs/gw-key.pem, clientCa: certs/ca.pem, clientAuth: optional,
 *                certificates: [ { serverNames: [api.example.com], cert: certs/api.pem, key: certs/api-key.pem } ] } }
 */
export const ListenerTls = Type.Object(
  {
    cert: Type.String({ minLength: 1, description: 'PEM certificate chain file (leaf first), relative to the config file: the default certificate (no SNI, or a name no `certificates` entry lists).' }),
    key: Type.String({ minLength: 1, description: 'PEM private key file.' }),
    passphrase: Type.Optional(Type.String({ description: 'Passphrase of an encrypted key; use `${ENV}`.' })),
    certificates: Type.Array(ListenerTlsCertificate, {
      default: [],
      description: 'More certificates, chosen by the server name a client sends (SNI): exact names win over wildcards; other names and clients without SNI get the default certificate.',
    }),
    requireSni: Type.Boolean({
      default: false,
      description: 'Refuse handshakes whose server name no certificate is for (listed serverNames, or the default certificate\'s own names), and close connections without SNI right after the handshake.',
    }),
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
 * A listener's TLS, compiled: every file read and every secure context built, once per
 * config. A handshake only looks its server name up in `sni`.
 */
export interface CompiledTls {
  /** Default certificate, client CA and versions: options for `createServer` / `setSecureContext`. */
  readonly options: TlsOptions;
  /** Secure contexts of the `certificates` entries by server name. */
  readonly sni: SniTable<SecureContext>;
  /** Names the default certificate is valid for, with `requireSni` (else undefined: any name is served). */
  readonly known: SniTable<true> | undefined;
  readonly requireSni: boolean;
  /** Hash of the settings and of every file's bytes: a reload with the same digest changes nothing. */
  readonly digest: string;
}

/**
 * One session id context for every context of a listener: OpenSSL keeps a session's
 * context when SNI switches the SSL_CTX, and refuses to resume client-verified sessions
 * without one.
 */
const SESSION_ID_CONTEXT = createHash('sha1').update('gantry listener').digest('hex').slice(0, 32);

/**
 * Reads the files of a TLS config and builds its secure contexts. A file that cannot be
 * read or a key that does not match its certificate throws a BuildError at its path
 * (`cert`, `certificates[1].key`, …).
 *
 * @example
 *   const tls = compileListenerTls(cfg.tls, baseDir);
 *   https.createServer({ ...new ServerTls(tls).serverOptions() }, handler)
 */
export function compileListenerTls(cfg: ListenerTlsConfig, baseDir: string): CompiledTls {
  const digest = createHash('sha256').update(JSON.stringify(cfg));
  // The bytes the load checked (readConfigFile, by config object), not a second read.
  const read = (path: (string | number)[], owner: object, p: string) => {
    const bytes = usableConfigFile(owner, baseDir, p, path);
    digest.update(bytes);
    return bytes;
  };
  const requireSni = cfg.requireSni === true;
  const common: SecureContextOptions = { minVersion: cfg.minVersion ?? 'TLSv1.2', maxVersion: 'TLSv1.3', sessionIdContext: SESSION_ID_CONTEXT };
  // A resumed handshake skips node's SNI callback: the server never sees which name it was
  // for, nor which name the session was made for (TLS 1.2 does not even report the name sent).
  // With a choice of certificates or requireSni, resumption would serve a session of one
  // name under another (RFC 6066 §3: a server MUST NOT) and let unknown names past
  // requireSni, so every handshake is a full one: no tickets, and no session cache
  // (node keeps none unless asked).
  if (requireSni || (cfg.certificates ?? []).length > 0) common.secureOptions = cryptoConstants.SSL_OP_NO_TICKET;
  // Client verification uses the CA store of the context SNI picked: every context gets it.
  if (cfg.clientCa !== undefined) {
    // The bytes the load checked (readCaFile), not a second read.
    common.ca = usableCaFile(cfg, baseDir, cfg.clientCa, ['clientCa']);
    digest.update(common.ca);
  }
  const options: TlsOptions = { ...common, cert: read(['cert'], cfg, cfg.cert), key: read(['key'], cfg, cfg.key), ALPNProtocols: ['http/1.1'] };
  if (cfg.passphrase !== undefined) options.passphrase = cfg.passphrase;
  if (cfg.clientCa !== undefined) {
    options.requestCert = true;
    options.rejectUnauthorized = cfg.clientAuth === 'required';
  }
  secureContext([], `${cfg.cert}, ${cfg.key}`, options);
  const sni = new SniTable<SecureContext>();
  (cfg.certificates ?? []).forEach((c, i) => {
    const at = ['certificates', i];
    const opts: SecureContextOptions = { ...common, cert: read([...at, 'cert'], c, c.cert), key: read([...at, 'key'], c, c.key) };
    if (c.passphrase !== undefined) opts.passphrase = c.passphrase;
    const context = secureContext(at, `${c.cert}, ${c.key}`, opts);
    for (const name of c.serverNames) sni.add(name, context);
  });
  return { options, sni, known: requireSni ? defaultNames(options.cert as Buffer) : undefined, requireSni, digest: digest.digest('hex') };
}

/** `files`: the certificate and key files, named in the error. */
function secureContext(path: (string | number)[], files: string, options: SecureContextOptions): SecureContext {
  try {
    return createSecureContext(options);
  } catch (e) {
    throw new BuildError(path, `unusable certificate or key (${files}): ${reasonOf(e)}`, { cause: e });
  }
}

/** The names the default certificate is valid for, as a table (requireSni accepts them). */
function defaultNames(pem: Buffer): SniTable<true> {
  const table = new SniTable<true>();
  for (const name of certificateNames(new X509Certificate(pem))) table.add(name, true);
  return table;
}


/**
 * The TLS side of one https or h2 server across reloads: the server's options (with an
 * SNI callback reading the current table) and `apply`, which swaps in a reload's
 * compiled TLS without closing the socket or any connection.
 *
 * @example
 *   const tls = new ServerTls(compileListenerTls(cfg.tls, baseDir));
 *   const server = createHttpsServer(limits, tls.serverOptions(), handler);
 *   tls.attach(server);
 *   // reload: tls.apply(server, compileListenerTls(next.tls, baseDir));
 */
export class ServerTls {
  #current: CompiledTls;

  constructor(compiled: CompiledTls) {
    this.#current = compiled;
  }

  /** Options for the server: the default certificate's, with the SNI selection. */
  serverOptions(): TlsOptions {
    return { ...this.#current.options, SNICallback: this.#select };
  }

  /** With `requireSni`, a connection whose client sent no server name is closed once its handshake is done. */
  attach(server: TlsServer): void {
    server.on('secureConnection', (socket: TLSSocket) => {
      if (this.#current.requireSni && !(socket as TLSSocket & { servername?: string | false }).servername) socket.destroy();
    });
  }

  /**
   * Serves `next` from the next handshake on; open connections keep theirs. Returns false
   * (and changes nothing) when `next` has the same settings and file contents.
   */
  apply(server: TlsServer, next: CompiledTls): boolean {
    if (next.digest === this.#current.digest) return false;
    // The options were built into a context once already (compileListenerTls): this cannot fail on them.
    server.setSecureContext(next.options as SecureContextOptions);
    // node:tls reads these per connection from the server (setSecureContext leaves them).
    const s = server as TlsServer & { requestCert: boolean; rejectUnauthorized: boolean };
    s.requestCert = next.options.requestCert === true;
    s.rejectUnauthorized = next.options.rejectUnauthorized !== false;
    this.#current = next;
    return true;
  }

  /** node:tls SNICallback: runs for handshakes that carry a server name. */
  readonly #select = (servername: string, done: (err: Error | null, ctx?: SecureContext) => void): void => {
    const cur = this.#current;
    const ctx = cur.sni.lookup(servername);
    if (ctx) return done(null, ctx);
    if (cur.known !== undefined && cur.known.lookup(servername) === undefined) return done(new Error(`no certificate for server name ${servername}`));
    done(null, undefined);
  };
}
