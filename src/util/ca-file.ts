import { X509Certificate } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { BuildError, reasonOf } from '../config/build-error.js';

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

/** What each config object's CA file read to, for the rest of its load (see readCaFile). */
const readByOwner = new WeakMap<object, { file: string; read: CaFile }>();

/**
 * Reads the CA file `file` (as the config wrote it, relative to `baseDir`) of `owner`, the
 * config's `tls` object that names it, and checks it (caFileProblem), once per config object:
 * the load-time check and the build of the same config take the same bytes, so the file is
 * read once per load and what is built is what was checked, even if the file changes in
 * between. A reload makes new config objects, so it reads the file afresh (a rotated CA).
 *
 * @example readCaFile(listener.tls, '/etc/gantry', 'certs/ca.pem') // { pem: <Buffer 2d 2d …> }
 */
export function readCaFile(owner: object, baseDir: string, file: string): CaFile {
  const hit = readByOwner.get(owner);
  if (hit !== undefined && hit.file === file) return hit.read;
  let read: CaFile;
  try {
    const pem = readFileSync(resolve(baseDir, file));
    const problem = caFileProblem(pem, file);
    read = problem === undefined ? { pem } : { problem };
  } catch (e) {
    read = { unreadable: e as NodeJS.ErrnoException };
  }
  readByOwner.set(owner, { file, read });
  return read;
}

/**
 * The bytes of a CA file for a build (readCaFile: those the load checked), or a BuildError at
 * `path` saying why they cannot be used.
 *
 * @example usableCaFile(cfg.tls, baseDir, cfg.tls.ca, ['tls', 'ca'])
 */
export function usableCaFile(owner: object, baseDir: string, file: string, path: (string | number)[]): Buffer {
  const read = readCaFile(owner, baseDir, file);
  if ('pem' in read) return read.pem;
  if ('problem' in read) throw new BuildError(path, read.problem);
  throw new BuildError(path, `cannot read ${file}: ${reasonOf(read.unreadable)}`, { cause: read.unreadable });
}
