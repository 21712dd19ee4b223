import { X509Certificate } from 'node:crypto';
import { createSecureContext } from 'node:tls';
import type { GatewayConfig } from '../config/schema.js';
import type { ConfigSource } from '../config/source.js';
import type { ConfigPath } from '../config/entries.js';
import { certificateNames, covers, serverNameProblem } from './tls-names.js';
import { readCaFile } from '../util/ca-file.js';
import { readConfigFile } from '../util/config-file.js';
import type { ListenerTlsConfig } from './tls.js';

/**
 * Config checks for TLS listeners, with file/line/path: `https` and `h2` need `tls`, `tls`
 * needs one of them; every certificate file must be readable and hold a certificate with
 * its matching key, and `clientCa` at least one certificate; `serverNames` must be DNS names (RFC 6066 §3: no IP addresses), each
 * once per listener, and the certificate must be valid for each (RFC 6125 §6.4: a client
 * would refuse it otherwise). An expired or not yet valid certificate is a warning.
 *
 * @example checkListenersTls(config, baseDir, source) // gateway.yaml:9 listeners[0].tls.certificates[1].serverNames[0]: …
 */
export function checkListenersTls(config: GatewayConfig, baseDir: string, source: ConfigSource): void {
  const listeners = Array.isArray(config.listeners) ? config.listeners : [];
  listeners.forEach((l, i) => {
    if (!l || typeof l !== 'object') return;
    const tls = (l as { tls?: ListenerTlsConfig }).tls;
    const secure = l.protocol === 'https' || l.protocol === 'h2';
    if (secure && tls === undefined) source.issueAt(['listeners', i, 'tls'], `is required for protocol ${l.protocol} (cert and key)`);
    if (!secure && tls !== undefined) source.issueAt(['listeners', i, 'tls'], `has no effect on protocol ${l.protocol ?? 'http'}; use protocol: https or h2`);
    if (!secure || !tls || typeof tls !== 'object') return;
    const at: ConfigPath = ['listeners', i, 'tls'];
    const files = new Files(baseDir, source);
    let ca: Buffer | undefined;
    if (typeof tls.clientCa === 'string') {
      // Read once per load: the listener's build takes these bytes (readCaFile).
      const read = readCaFile(tls, baseDir, tls.clientCa);
      if ('unreadable' in read) return source.issueAt([...at, 'clientCa'], `cannot read ${tls.clientCa}: ${read.unreadable.code ?? read.unreadable.message}`);
      if ('problem' in read) return source.issueAt([...at, 'clientCa'], read.problem);
      ca = read.pem;
    }
    checkCertificate(files, at, tls, ca);
    const seen = new Map<string, number>();
    (Array.isArray(tls.certificates) ? tls.certificates : []).forEach((c, j) => {
      if (!c || typeof c !== 'object') return;
      const cat: ConfigPath = [...at, 'certificates', j];
      const names = Array.isArray(c.serverNames) ? c.serverNames : [];
      const valid: [string, number][] = [];
      names.forEach((name, k) => {
        if (typeof name !== 'string') return;
        const problem = serverNameProblem(name);
        if (problem !== undefined) return source.issueAt([...cat, 'serverNames', k], problem);
        const key = name.toLowerCase();
        const first = seen.get(key);
        if (first !== undefined) return source.issueAt([...cat, 'serverNames', k], `'${name}' is already listed by certificates[${first}]; a server name selects one certificate`);
        seen.set(key, j);
        valid.push([name, k]);
      });
      const cert = checkCertificate(files, cat, c, ca);
      if (cert === undefined) return;
      const certNames = certificateNames(cert);
      for (const [name, k] of valid) {
        if (!covers(certNames, name)) {
          source.issueAt([...cat, 'serverNames', k], `the certificate in ${c.cert} is not valid for '${name}' (it names ${certNames.join(', ') || 'nothing'}); clients would refuse it`);
        }
      }
    });
  });
}

/**
 * Reads files relative to the config, reporting one that cannot be read at its path. Each is
 * read once per load for the config object naming it (readConfigFile): the listener's build
 * takes these bytes.
 */
class Files {
  constructor(
    readonly baseDir: string,
    readonly source: ConfigSource,
  ) {}

  read(path: ConfigPath, owner: object, p: string): Buffer | undefined {
    const read = readConfigFile(owner, this.baseDir, p);
    if ('bytes' in read) return read.bytes;
    this.source.issueAt(path, `cannot read ${p}: ${read.unreadable.code ?? read.unreadable.message}`);
    return undefined;
  }
}

/**
 * Checks one certificate and key (the default at `tls`, or a `certificates` entry): files,
 * key matching the certificate, validity dates. Returns the parsed leaf when usable.
 */
function checkCertificate(files: Files, at: ConfigPath, c: { cert?: unknown; key?: unknown; passphrase?: unknown }, ca: Buffer | undefined): X509Certificate | undefined {
  if (typeof c.cert !== 'string' || typeof c.key !== 'string') return undefined;
  const cert = files.read([...at, 'cert'], c, c.cert);
  const key = files.read([...at, 'key'], c, c.key);
  if (cert === undefined || key === undefined) return undefined;
  try {
    createSecureContext({ cert, key, ca, ...(typeof c.passphrase === 'string' ? { passphrase: c.passphrase } : {}) });
  } catch (e) {
    files.source.issueAt(at, `unusable certificate or key (${c.cert}, ${c.key}): ${(e as Error).message}`);
    return undefined;
  }
  let leaf: X509Certificate;
  try {
    leaf = new X509Certificate(cert);
  } catch (e) {
    files.source.issueAt([...at, 'cert'], `cannot parse the certificate in ${c.cert}: ${(e as Error).message}`);
    return undefined;
  }
  const now = Date.now();
  if (Date.parse(leaf.validTo) < now) files.source.issueAt([...at, 'cert'], `the certificate in ${c.cert} expired on ${new Date(leaf.validTo).toISOString()}`, 'warning');
  else if (Date.parse(leaf.validFrom) > now) files.source.issueAt([...at, 'cert'], `the certificate in ${c.cert} is not valid before ${new Date(leaf.validFrom).toISOString()}`, 'warning');
  return leaf;
}
