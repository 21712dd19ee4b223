import { watch, statSync, type FSWatcher } from 'node:fs';
import { basename, dirname, resolve } from 'node:path';

/**
 * Calls `onChange` once the config file (or any `.yaml`/`.yml` file of a config folder)
 * has stopped changing for `debounceMs`. Watches the directory, not the file: editors and
 * ConfigMap updates replace files (rename, symlink swap), which a watch on the old inode
 * would never see. Returns a function that stops watching.
 *
 * @example
 *   const stop = watchConfig('gateway.yaml', 300, () => void gw.reload());
 */
export function watchConfig(path: string, debounceMs: number, onChange: () => void): () => void {
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
        if (!isDir || file === null || /\.ya?ml$/.test(file) || file.startsWith('..')) fire();
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
