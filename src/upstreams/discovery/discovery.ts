/** One discovered target: what `targets:` holds, normalised. */
export interface TargetSpec {
  url: string;
  weight: number;
}

/**
 * Where an upstream's targets come from: `targets:` (static), `dns:` or `file:`. A source
 * reports the complete target set whenever it changes; the upstream diffs it, keeping
 * the targets (and their health, their pools, their in-flight requests) that stay.
 *
 * @example
 *   const d = fileDiscovery({ path: 'targets.yaml', interval: 1000 }, baseDir, logger);
 *   await d.start((targets) => upstream.setTargets(targets));
 *   d.close();
 */
export interface Discovery {
  /** Human-readable source, for status (`static`, `dns A api.internal`, `file targets.yaml`). */
  readonly description: string;
  /** Starts watching; resolves after the first lookup (successful or not). */
  start(update: (targets: TargetSpec[]) => void): Promise<void>;
  close(): void;
}

/** Normalises `targets:` entries (URL strings or `{ url, weight }`). */
export function toSpecs(list: readonly (string | { url: string; weight?: number | undefined })[]): TargetSpec[] {
  return list.map((t) => (typeof t === 'string' ? { url: t, weight: 1 } : { url: t.url, weight: t.weight ?? 1 }));
}

/** `targets: [...]` in the config: reported once. */
export function staticDiscovery(list: readonly (string | { url: string; weight?: number | undefined })[]): Discovery {
  return {
    description: 'static',
    start(update) {
      update(toSpecs(list));
      return Promise.resolve();
    },
    close() {},
  };
}
