import { X509Certificate } from 'node:crypto';
import { BuildError } from '../config/build-error.js';
import { readConfigFile, usableConfigFile } from './config-file.js';

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

/** A CA file as a load read it: its bytes when they are a CA bundle, else why not. */
export type CaFile = { pem: Buffer } | { unreadable: NodeJS.ErrnoException } | { problem: string };

/** The verdict on each CA file's bytes, so a load checks them once (see readCaFile). */
const checkedByBytes = new WeakMap<Buffer, CaFile>();

/**
 * Reads the CA file `file` (as the config wrote it, relative to `baseDir`) of `owner`, the
 * config's `tls` object that names it, and checks it (caFileProblem), once per config object
 * (readConfigFile): the load-time check and the build of the same config take the same
 * bytes, so what is built is what was checked, even if the file changes in between. A reload
 * makes new config objects, so it reads the file afresh (a rotated CA).
 *
 * @example readCaFile(listener.tls, '/etc/gantry', 'certs/ca.pem') // { pem: <Buffer 2d 2d …> }
 */
export function readCaFile(owner: object, baseDir: string, file: string): CaFile {
  const read = readConfigFile(owner, baseDir, file);
  if ('unreadable' in read) return read;
  let checked = checkedByBytes.get(read.bytes);
  if (checked === undefined) {
    const problem = caFileProblem(read.bytes, file);
    checked = problem === undefined ? { pem: read.bytes } : { problem };
    checkedByBytes.set(read.bytes, checked);
  }
  return checked;
}

/**
 * The bytes of a CA file for a build (readCaFile: those the load checked), or a BuildError at
 * `path` saying why they cannot be used.
 *
 * @example usableCaFile(cfg.tls, baseDir, cfg.tls.ca, ['tls', 'ca'])
 */
export function usableCaFile(owner: object, baseDir: string, file: string, path: (string | number)[]): Buffer {
  const bytes = usableConfigFile(owner, baseDir, file, path);
  const read = readCaFile(owner, baseDir, file);
  if ('problem' in read) throw new BuildError(path, read.problem);
  return bytes;
}
