import type { ConfigPath } from './entries.js';
import { displayPath, type ConfigIssue, type ConfigSource } from './source.js';

/**
 * A config that passed validation but could not be built: a listener's port is taken, a
 * file it names cannot be opened, a policy's factory failed. It names the config path of
 * what failed, so that the issue reads like a validation error (`gateway.yaml:7
 * listeners[1]: …`) instead of an internal message. Code deeper down throws it with the
 * path it knows; callers that know where that part sits prefix theirs (`within`).
 *
 * @example
 *   throw new BuildError(['tls', 'cert'], 'cannot read certs/gw.pem (no such file, ENOENT)');
 *   // the gateway, building listeners[1]:
 *   catch (e) { throw BuildError.within(['listeners', 1], e); }
 */
export class BuildError extends Error {
  readonly path: ConfigPath;

  constructor(path: ConfigPath, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'BuildError';
    this.path = path;
  }

  /**
   * `e` placed under `prefix`: a BuildError gets its path prefixed; any other error becomes
   * one at `prefix`, its message (first line) kept with `what` in front when given.
   */
  static within(prefix: ConfigPath, e: unknown, what?: string): BuildError {
    if (e instanceof BuildError) return new BuildError([...prefix, ...e.path], e.message, { cause: e.cause ?? e });
    return new BuildError(prefix, `${what ? `${what}: ` : ''}${reasonOf(e)}`, { cause: e });
  }
}

/** How operators read the system errors a build meets (errno code kept in parentheses). */
const REASONS: Record<string, string> = {
  EADDRINUSE: 'address in use',
  EADDRNOTAVAIL: 'address not available on this host',
  EACCES: 'permission denied',
  EPERM: 'operation not permitted',
  ENOENT: 'no such file or directory',
  EISDIR: 'is a directory',
  ENOTDIR: 'a parent is not a directory',
  EMFILE: 'too many open files',
  ENFILE: 'too many open files in the system',
  EROFS: 'read-only file system',
  ENOTFOUND: 'host not found',
  ECONNREFUSED: 'connection refused',
};

/**
 * One line saying why: `address in use (EADDRINUSE)` for a system error, else the error's
 * first line.
 *
 * @example reasonOf(Object.assign(new Error('listen EADDRINUSE …'), { code: 'EADDRINUSE' })) // 'address in use (EADDRINUSE)'
 */
export function reasonOf(e: unknown): string {
  const code = (e as NodeJS.ErrnoException | null)?.code;
  if (typeof code === 'string' && /^E[A-Z]+$/.test(code)) return `${REASONS[code] ?? (e as Error).message.split('\n')[0]} (${code})`;
  const message = e instanceof Error ? e.message : String(e);
  return message.split('\n')[0]!;
}

/**
 * The issue a failed build reports: at the config path (with the file and line the loader
 * recorded for it) when the error names one, else at the config file with the reason.
 *
 * @example formatIssue(buildIssue(loaded.source, e)) // 'gateway.yaml:7 listeners[1]: "internal": cannot listen on 127.0.0.1:8443: address in use (EADDRINUSE)'
 */
export function buildIssue(source: ConfigSource, e: unknown): ConfigIssue {
  if (e instanceof BuildError) {
    const pos = source.positionOf(e.path);
    return { file: pos.file, line: pos.line, path: displayPath(e.path), message: e.message, severity: 'error' };
  }
  const pos = source.positionOf([]);
  return { file: pos.file, line: 0, path: '', message: `the config could not be built: ${reasonOf(e)}`, severity: 'error' };
}

/**
 * An address as operators write it: `127.0.0.1:9901`, `[::1]:9901`.
 *
 * @example hostPort('::1', 8443) // '[::1]:8443'
 */
export function hostPort(host: string, port: number): string {
  return host.includes(':') ? `[${host}]:${port}` : `${host}:${port}`;
}
