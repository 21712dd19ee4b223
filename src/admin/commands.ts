import type { Gateway, ReloadResult } from '../gateway.js';
import type { ConfigFile } from '../config/load.js';
import { formatIssue } from '../config/source.js';
import { gatewayStatus } from './status.js';

/**
 * Operations a gateway process runs on behalf of the admin API. In a single process the
 * admin server calls them directly; in cluster mode the primary sends them to every worker
 * over IPC and gets one result per worker. Adding an operation (e.g. `cache.purge`) is one
 * entry here plus one admin route that calls `backend.run(name, payload)`.
 *
 * @example
 *   GATEWAY_COMMANDS['cache.purge'] = async (gw, payload) => ({ purged: await purge(gw.runtime, payload) });
 */
export type GatewayCommand = (gw: Gateway, payload: unknown) => Promise<unknown>;

/** Result of `reload` as sent over IPC (issues already formatted). */
export interface ReloadOutcome {
  ok: boolean;
  version: number;
  hash: string;
  issues?: string[];
}

/** Result of `ready`. */
export interface ReadyOutcome {
  ready: boolean;
  checks: Record<string, { ok: boolean; detail?: string }>;
}

/**
 * Readiness checks beyond "config loaded and not draining": the store session adds
 * "store reachable" here. Each returns quickly (a ping with a short timeout).
 */
export const READINESS_CHECKS: Record<string, (gw: Gateway) => Promise<{ ok: boolean; detail?: string }>> = {
  // DESIGN: ready = config loaded and store reachable. The store tracks its connection
  // (Redis: connected and answering); the memory store is always reachable.
  async store(gw) {
    const store = gw.runtime.store;
    return { ok: store.healthy, detail: `${store.kind}${store.healthy ? '' : ' unreachable'}` };
  },
};

export const GATEWAY_COMMANDS: Record<string, GatewayCommand> = {
  async status(gw) {
    return gatewayStatus(gw);
  },
  async reload(gw): Promise<ReloadOutcome> {
    return outcome(gw, await gw.reload());
  },
  /**
   * Cluster mode, first phase of a reload: build the text the primary read as `version`,
   * without serving it (payload `{ files, version }`). The primary then sends
   * `reload.commit` to every worker once all of them built it, or `reload.abort`.
   */
  async 'reload.prepare'(gw, payload): Promise<ReloadOutcome> {
    const { files, version } = payload as { files: ConfigFile[]; version: number };
    return outcome(gw, await gw.prepare(files, version));
  },
  async 'reload.commit'(gw): Promise<ReloadOutcome> {
    return outcome(gw, await gw.commitPrepared());
  },
  /**
   * Cluster mode: the reload failed (invalid text, a worker could not build it, the primary's
   * admin listener could not bind): discard what was prepared and record the failure with
   * `issues` (payload `{ issues }`), so every worker reports the same last reload.
   */
  async 'reload.abort'(gw, payload): Promise<ReloadOutcome> {
    const issues = (payload as { issues: string[] }).issues;
    await gw.abortPrepared(issues);
    const rt = gw.runtime;
    return { ok: false, version: rt.version, hash: rt.loaded.hash, issues };
  },
  async ready(gw): Promise<ReadyOutcome> {
    const checks: ReadyOutcome['checks'] = {
      config: { ok: true, detail: `version ${gw.runtime.version}` },
      draining: { ok: !gw.draining },
    };
    await Promise.all(
      Object.entries(READINESS_CHECKS).map(async ([name, check]) => {
        try {
          checks[name] = await check(gw);
        } catch (e) {
          checks[name] = { ok: false, detail: (e as Error).message };
        }
      }),
    );
    return { ready: Object.values(checks).every((c) => c.ok), checks };
  },
};

function outcome(gw: Gateway, r: ReloadResult): ReloadOutcome {
  const rt = gw.runtime;
  if (r.ok) return { ok: true, version: rt.version, hash: rt.loaded.hash };
  return { ok: false, version: rt.version, hash: rt.loaded.hash, issues: r.issues.map(formatIssue) };
}

/** Runs a command on a local gateway; unknown names reject. */
export function runCommand(gw: Gateway, name: string, payload: unknown): Promise<unknown> {
  const cmd = GATEWAY_COMMANDS[name];
  if (cmd === undefined) return Promise.reject(new Error(`unknown gateway command '${name}'`));
  return cmd(gw, payload);
}
