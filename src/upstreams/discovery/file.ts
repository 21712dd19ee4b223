import { readFileSync, unwatchFile, watchFile, type Stats } from 'node:fs';
import { resolve } from 'node:path';
import { parse as parseYaml } from 'yaml';
import { Type } from '@sinclair/typebox';
import type { Logger } from 'pino';
import { Target as TargetSchema } from '../../config/schema.js';
import { HttpUrl } from '../../config/types.js';
import { validateInPlace } from '../../config/validate.js';
import type { FileDiscoveryConfig } from '../schema.js';
import { toSpecs, type Discovery, type TargetSpec } from './discovery.js';

const FileTargets = Type.Array(Type.Union([HttpUrl(), TargetSchema]));

/**
 * `file: { path, interval }`: targets from a JSON or YAML file (a list shaped like
 * `targets:`, or `{ targets: [...] }`), re-read when its modification time changes. The
 * file is polled (`fs.watchFile`) rather than watched with inotify, because deploy tools
 * replace files by rename, which silently ends an inotify watch. A file that does not
 * parse keeps the last good set and logs why.
 *
 * @example
 *   upstreams:
 *     api: { file: { path: targets.yaml, interval: 2s } }
 *   # targets.yaml
 *   - http://10.0.0.1:8080
 *   - { url: http://10.0.0.2:8080, weight: 2 }
 */
export function fileDiscovery(cfg: FileDiscoveryConfig, baseDir: string, logger: Logger): Discovery {
  const path = resolve(baseDir, cfg.path);
  let listener: ((cur: Stats, prev: Stats) => void) | undefined;

  const read = (): TargetSpec[] | undefined => {
    try {
      const doc: unknown = parseYaml(readFileSync(path, 'utf8'));
      const list = doc !== null && typeof doc === 'object' && !Array.isArray(doc) && 'targets' in doc ? (doc as { targets: unknown }).targets : doc;
      const issues = validateInPlace(FileTargets, list);
      if (issues.length > 0) {
        logger.error({ file: path, issues: issues.map((i) => `${i.path.join('.')}: ${i.message}`) }, 'target file is invalid; keeping the last targets');
        return undefined;
      }
      return toSpecs(list as never);
    } catch (e) {
      logger.error({ file: path, err: { message: (e as Error).message } }, 'target file unreadable; keeping the last targets');
      return undefined;
    }
  };

  return {
    description: `file ${cfg.path}`,
    start(update) {
      const first = read();
      if (first) update(first);
      listener = (cur, prev) => {
        if (cur.mtimeMs === prev.mtimeMs && cur.size === prev.size && cur.ino === prev.ino) return;
        const next = read();
        if (next) update(next);
      };
      watchFile(path, { interval: cfg.interval, persistent: false }, listener);
      return Promise.resolve();
    },
    close() {
      if (listener) unwatchFile(path, listener);
    },
  };
}
