import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { BuildError, reasonOf } from '../config/build-error.js';

/** A file named by the config, as a load read it: its bytes, or why it could not be read. */
export type ConfigFileRead = { bytes: Buffer } | { unreadable: NodeJS.ErrnoException };

/** What each config object's files read to, for the rest of its load (see readConfigFile). */
const readByOwner = new WeakMap<object, Map<string, ConfigFileRead>>();

/**
 * Reads `file` (as the config wrote it, relative to `baseDir`) for `owner`, the config object
 * that names it (a listener's `tls`, a `certificates` entry, an upstream's `tls`), once per
 * config object: the load-time check and the build of the same config take the same bytes,
 * so each file is read once per load and what is built is what was checked, even if the
 * file changes in between. A reload makes new config objects, so it reads the files afresh
 * (a rotated certificate). TLS certificates, keys and CA files (util/ca-file.ts) go through it.
 *
 * @example readConfigFile(listener.tls, '/etc/gantry', 'certs/gw.pem') // { bytes: <Buffer 2d 2d …> }
 */
export function readConfigFile(owner: object, baseDir: string, file: string): ConfigFileRead {
  let files = readByOwner.get(owner);
  if (files === undefined) readByOwner.set(owner, (files = new Map()));
  let read = files.get(file);
  if (read !== undefined) return read;
  try {
    read = { bytes: readFileSync(resolve(baseDir, file)) };
  } catch (e) {
    read = { unreadable: e as NodeJS.ErrnoException };
  }
  files.set(file, read);
  return read;
}

/**
 * The bytes of a config file for a build (readConfigFile: those the load checked), or a
 * BuildError at `path` when it could not be read.
 *
 * @example usableConfigFile(cfg.tls, baseDir, cfg.tls.key, ['tls', 'key'])
 */
export function usableConfigFile(owner: object, baseDir: string, file: string, path: (string | number)[]): Buffer {
  const read = readConfigFile(owner, baseDir, file);
  if ('bytes' in read) return read.bytes;
  throw new BuildError(path, `cannot read ${file}: ${reasonOf(read.unreadable)}`, { cause: read.unreadable });
}
