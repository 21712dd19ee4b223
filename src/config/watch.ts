import { watch, statSync, type FSWatcher } from 'node:fs';
import { basename, dirname, join, relative, resolve } from 'node:path';
import type { Logger } from 'pino';
import { referencedFiles } from './references.js';
import type { GatewayConfig } from './schema.js';

/**
 * Calls `onChange` once the config file (or any config file of a config folder: a `.yaml`/`.yml`
 * name not hidden, not one `ignore` gives true for) has stopped changing for `debounceMs`. Watches the directory, not the file: editors and
 * ConfigMap updates replace files (rename, symlink swap), which a watch on the old inode
 * would never see. Returns a function that stops watching.
 *
 * @example
 *   const stop = watchConfig('gateway.yaml', 300, () => void gw.reload());
 */
export function watchConfig(path: string, debounceMs: number, onChange: () => void, ignore: (file: string) => boolean = () => false): () => void {
  const abs = resolve(path);
  let isDir = false;
  try {
    isDir = statSync(abs).isDirectory();
  } catch {
    // a missing file is watched through its directory and reloads when it appears
  }
  const dir = isDir ? abs : dirname(abs);
  const name = basename(abs);
  let timer: NodeJS.Timeout | undefined;
  const fire = () => {
    if (timer) clearTimeout(timer);
    timer = setTimeout(() => {
      timer = undefined;
      onChange();
    }, debounceMs);
    timer.unref();
  };
  let watcher: FSWatcher;
  try {
    watcher = watch(dir, { persistent: false }, (_event, file) => {
      // Kubernetes ConfigMaps swap a `..data` symlink; any event in the folder may mean a new file.
      if (file === null || isDir || file === name || file.startsWith('..')) {
        if (!isDir || file === null || file.startsWith('..') || (isConfigName(file) && !ignore(join(dir, file)))) fire();
      }
    });
  } catch {
    return () => undefined;
  }
  watcher.on('error', () => undefined);
  return () => {
    if (timer) clearTimeout(timer);
    watcher.close();
  };
}

/** A name a config folder reads as config (source.ts `configFilesOf`): `.yaml`/`.yml`, not hidden. */
const isConfigName = (file: string) => /\.ya?ml$/.test(file) && !file.startsWith('.');

/** What `watchReferencedFiles` follows: the config serving now and the folder its paths are relative to. */
export interface WatchedConfig {
  config: GatewayConfig;
  baseDir: string;
}

/**
 * Watches a set of files (their directories, as `watchConfig` does, so that a file replaced
 * by a rename or a Kubernetes Secret's `..data` symlink swap is seen) and calls `onChange`
 * with the files that changed once they have stopped changing for `debounceMs`. `set`
 * replaces the set: directories no longer needed stop being watched.
 *
 * @example
 *   const w = new FileWatch(300, (files) => void gw.reload());
 *   w.set(['/etc/gantry/certs/gw.pem', '/etc/gantry/certs/gw-key.pem']);
 */
export class FileWatch {
  readonly #debounceMs: number;
  readonly #onChange: (files: string[]) => void;
  readonly #dirs = new Map<string, { watcher: FSWatcher | undefined; names: Set<string> }>();
  readonly #changed = new Set<string>();
  #timer: NodeJS.Timeout | undefined;

  constructor(debounceMs: number, onChange: (files: string[]) => void) {
    this.#debounceMs = debounceMs;
    this.#onChange = onChange;
  }

  /** The files watched now, sorted. */
  get files(): string[] {
    return [...this.#dirs].flatMap(([dir, d]) => [...d.names].map((n) => join(dir, n))).sort();
  }

  set(files: readonly string[]): void {
    const wanted = new Map<string, Set<string>>();
    for (const f of files) {
      const dir = dirname(f);
      let names = wanted.get(dir);
      if (names === undefined) wanted.set(dir, (names = new Set()));
      names.add(basename(f));
    }
    for (const [dir, d] of this.#dirs) {
      if (wanted.has(dir)) continue;
      d.watcher?.close();
      this.#dirs.delete(dir);
    }
    for (const [dir, names] of wanted) {
      const d = this.#dirs.get(dir);
      if (d !== undefined) d.names = names;
      else this.#dirs.set(dir, { watcher: this.#watch(dir), names });
    }
  }

  stop(): void {
    if (this.#timer) clearTimeout(this.#timer);
    for (const d of this.#dirs.values()) d.watcher?.close();
    this.#dirs.clear();
  }

  #watch(dir: string): FSWatcher | undefined {
    let watcher: FSWatcher;
    try {
      watcher = watch(dir, { persistent: false }, (_event, file) => this.#event(dir, file));
    } catch {
      // A folder that does not exist (yet): the config that names it failed or will fail to build.
      return undefined;
    }
    watcher.on('error', () => undefined);
    return watcher;
  }

  #event(dir: string, file: string | null): void {
    const d = this.#dirs.get(dir);
    if (d === undefined) return;
    // No name, or a Kubernetes `..data` swap: any watched file of the folder may have changed.
    if (file === null || file.startsWith('..')) for (const n of d.names) this.#changed.add(join(dir, n));
    else if (d.names.has(file)) this.#changed.add(join(dir, file));
    else return;
    if (this.#timer) clearTimeout(this.#timer);
    this.#timer = setTimeout(() => {
      this.#timer = undefined;
      const changed = [...this.#changed].sort();
      this.#changed.clear();
      this.#onChange(changed);
    }, this.#debounceMs);
    this.#timer.unref();
  }
}

/**
 * `gantry start` with `reload.watch`: reloads when the config changes (`watchConfig`) or
 * when a file it references changes (`referencedFiles`: certificates, schema files), and
 * logs which files changed. The set of referenced files follows the config serving: it is
 * taken again after every reload this watch or `refresh` (SIGHUP) starts, and before acting
 * on a file event (a reload through the admin API). A reload that fails leaves the
 * previous config serving, and its files watched, so fixing the bad file reloads again.
 *
 * @example
 *   const w = watchReferencedFiles('gateway.yaml', 300, () => gw.reload(), () => ({ config: gw.runtime.config, baseDir: gw.runtime.loaded.baseDir }), gw.logger);
 *   process.on('SIGHUP', () => void gw.reload().finally(w.refresh));
 */
export function watchReferencedFiles(
  configPath: string,
  debounceMs: number,
  reload: () => Promise<unknown>,
  current: () => WatchedConfig,
  logger: Pick<Logger, 'info' | 'error'>,
): { refresh: () => void; stop: () => void } {
  let seen: GatewayConfig | undefined;
  const refresh = () => {
    const cur = current();
    seen = cur.config;
    const { files: next, complete } = referencedFiles(cur.config, cur.baseDir);
    // A schema file that cannot be read hides the files it references: keep watching those seen before.
    files.set(complete ? next : [...new Set([...files.files, ...next])]);
  };
  const run = () =>
    void reload().then(refresh, (e: unknown) => {
      logger.error({ err: e }, 'reload failed');
      refresh();
    });
  const files = new FileWatch(debounceMs, (changed) => {
    const cur = current();
    if (cur.config !== seen) refresh();
    const shown = changed.filter((f) => files.files.includes(f)).map((f) => relative(cur.baseDir, f) || f);
    if (shown.length === 0) return;
    logger.info({ files: shown }, 'files the config references changed; reloading');
    run();
  });
  // A referenced YAML file inside a config folder (a schema) is not config (load.ts): the file watch reloads for it, once.
  const stopConfig = watchConfig(configPath, debounceMs, run, (f) => files.files.includes(f));
  refresh();
  return {
    refresh,
    stop: () => {
      stopConfig();
      files.stop();
    },
  };
}
