import { Buffer } from 'node:buffer';
import { generateApiKey, hashApiKey, hashPassword } from '../consumers/hash.js';

export interface HashKeyOptions {
  /** The secret; undefined: read from `input` (stdin), or generate with `generate`. */
  secret: string | undefined;
  /** Hash a password with scrypt instead of an API key with SHA-256. */
  password: boolean;
  /** Generate a random API key and print it with its hash. */
  generate: boolean;
  input?: NodeJS.ReadableStream;
  out?: NodeJS.WritableStream;
  err?: NodeJS.WritableStream;
}

/**
 * `gantry hash-key [KEY] [--password] [--generate]`: prints the value to put in
 * `consumers[].apiKeys` (`sha256:<hex>`) or `consumers[].basicAuth[].password`
 * (`scrypt:…`). Without KEY the secret is read from stdin, which keeps it out of the
 * shell history and the process list.
 *
 * @example
 *   $ printf %s "$KEY" | gantry hash-key
 *   sha256:2c26b46b68ffc68ff99b453c1d30413413422d706483bfa0f98a5e886266e7ae
 */
export async function hashKey(o: HashKeyOptions): Promise<number> {
  const out = o.out ?? process.stdout;
  const err = o.err ?? process.stderr;
  if (o.generate) {
    if (o.password || o.secret !== undefined) {
      err.write('gantry hash-key: --generate makes an API key; it takes no KEY and no --password\n');
      return 2;
    }
    const key = generateApiKey();
    out.write(`key:  ${key}\nhash: ${hashApiKey(key)}\n`);
    return 0;
  }
  let secret = o.secret;
  if (secret === undefined) secret = (await readAll(o.input ?? process.stdin)).replace(/\r?\n$/, '');
  if (secret.length === 0) {
    err.write('gantry hash-key: empty secret (pass KEY or pipe it on stdin)\n');
    return 2;
  }
  out.write(`${o.password ? hashPassword(secret) : hashApiKey(secret)}\n`);
  return 0;
}

async function readAll(stream: NodeJS.ReadableStream): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const c of stream) chunks.push(typeof c === 'string' ? Buffer.from(c) : (c as Buffer));
  return Buffer.concat(chunks).toString('utf8');
}
