import { X509Certificate } from 'node:crypto';

/** PEM labels OpenSSL reads as a certificate (`PEM_read_bio_X509_AUX`), as Node's `ca` option does. */
const CERTIFICATE_LABELS = new Set(['CERTIFICATE', 'TRUSTED CERTIFICATE', 'X509 CERTIFICATE']);
const BEGIN = /-----BEGIN ([^\r\n-]+)-----/g;

/**
 * Why the bytes of a CA file (`listeners[].tls.clientCa`, `upstreams.<name>.tls.ca`,
 * `routes[].grpc.tls.ca`) are not a CA bundle, or undefined when they are: at least one PEM
 * certificate block, and each one parses (node:crypto `X509Certificate`). Node takes any
 * bytes as `ca` without a word (an empty file, a key, DER, garbage) and then trusts no
 * certificate of them: every handshake fails later, far from the mistake. `file` is the path
 * as the config wrote it, for the message.
 *
 * @example caFileProblem(Buffer.from(''), 'certs/ca.pem') // 'certs/ca.pem holds no PEM certificate (it is empty); …'
 */
export function caFileProblem(pem: Buffer, file: string): string | undefined {
  const text = pem.toString('latin1');
  const labels = new Set<string>();
  const certificates: string[] = [];
  for (const m of text.matchAll(BEGIN)) {
    const label = m[1]!;
    labels.add(label);
    if (!CERTIFICATE_LABELS.has(label)) continue;
    const end = `-----END ${label}-----`;
    const at = text.indexOf(end, m.index);
    // A block without its END line is kept whole to the end: the parser then names what is wrong.
    certificates.push(at < 0 ? text.slice(m.index) : text.slice(m.index, at + end.length));
  }
  if (certificates.length === 0) {
    const found = labels.size > 0 ? `only ${[...labels].join(', ')}` : text.trim() === '' ? 'it is empty' : 'no PEM block: DER or not a certificate';
    return `${file} holds no PEM certificate (${found}); a CA file is one or more -----BEGIN CERTIFICATE----- blocks`;
  }
  for (const [i, block] of certificates.entries()) {
    try {
      new X509Certificate(block);
    } catch (e) {
      return `${file}: certificate ${i + 1} of ${certificates.length} cannot be parsed: ${(e as Error).message}`;
    }
  }
  return undefined;
}
