import { loadConfig } from '../config/load.js';
import { formatIssue } from '../config/source.js';
import type { GatewayConfig } from '../config/schema.js';
import { findShadowed } from '../config/lint.js';

/** One semantic difference between two configs. */
export interface Change {
  kind: 'route-added' | 'route-removed' | 'route-changed' | 'route-shadowed' | 'upstream-added' | 'upstream-removed' | 'upstream-changed' | 'policies-changed' | 'listener-changed' | 'setting-changed';
  name: string;
  detail: string[];
}

const json = (v: unknown) => JSON.stringify(v ?? null);

function policySummary(list: readonly Record<string, unknown>[] | undefined): string[] {
  return (list ?? []).map((e) => `${Object.keys(e)[0]} ${json(Object.values(e)[0])}`);
}

/** Field-by-field changes of a record (added, removed, changed keys). */
function fieldChanges(a: Record<string, unknown>, b: Record<string, unknown>, skip: readonly string[] = []): string[] {
  const out: string[] = [];
  for (const k of new Set([...Object.keys(a), ...Object.keys(b)])) {
    if (skip.includes(k) || json(a[k]) === json(b[k])) continue;
    out.push(`${k}: ${json(a[k])} → ${json(b[k])}`);
  }
  return out;
}

function policyChanges(a: readonly Record<string, unknown>[] | undefined, b: readonly Record<string, unknown>[] | undefined): string[] {
  const pa = policySummary(a);
  const pb = policySummary(b);
  if (json(pa) === json(pb)) return [];
  const out: string[] = [];
  for (const p of pa) if (!pb.includes(p)) out.push(`- ${p}`);
  for (const p of pb) if (!pa.includes(p)) out.push(`+ ${p}`);
  if (out.length === 0) out.push(`order: ${pa.map((p) => p.split(' ')[0]).join(' → ')}  ⇒  ${pb.map((p) => p.split(' ')[0]).join(' → ')}`);
  return out;
}

function targetsOf(u: GatewayConfig['upstreams'][string] | undefined): Map<string, number> {
  const m = new Map<string, number>();
  for (const t of u?.targets ?? []) {
    if (typeof t === 'string') m.set(t, 1);
    else m.set(t.url, t.weight ?? 1);
  }
  return m;
}

/**
 * The semantic difference between two configs: routes added, removed, changed (match,
 * target, rewrite, policies and limits) or newly shadowed; upstream targets and settings;
 * global policies; listeners.
 *
 * @example
 *   const changes = diffConfigs(oldConfig, newConfig);
 *   const blocking = changes.some((c) => c.kind === 'route-shadowed');
 */
export function diffConfigs(a: GatewayConfig, b: GatewayConfig): Change[] {
  const out: Change[] = [];
  const ra = new Map(a.routes.map((r) => [r.name, r]));
  const rb = new Map(b.routes.map((r) => [r.name, r]));
  for (const [name, r] of rb) if (!ra.has(name)) out.push({ kind: 'route-added', name, detail: [`match ${json(r.match)}`] });
  for (const [name, r] of ra) if (!rb.has(name)) out.push({ kind: 'route-removed', name, detail: [`match ${json(r.match)}`] });
  for (const [name, r] of rb) {
    const old = ra.get(name);
    if (!old) continue;
    const detail = fieldChanges(old as unknown as Record<string, unknown>, r as unknown as Record<string, unknown>, ['policies']);
    const pol = policyChanges(old.policies, r.policies).map((p) => `policies ${p}`);
    if (detail.length + pol.length > 0) out.push({ kind: 'route-changed', name, detail: [...detail, ...pol] });
  }
  const shadowedBefore = new Set(findShadowed(a.routes).map((s) => s.shadowed));
  for (const s of findShadowed(b.routes)) {
    if (!shadowedBefore.has(s.shadowed)) out.push({ kind: 'route-shadowed', name: s.shadowed, detail: [`by route '${s.by}' (${s.why})`] });
  }
  for (const name of new Set([...Object.keys(a.upstreams), ...Object.keys(b.upstreams)])) {
    const ua = a.upstreams[name];
    const ub = b.upstreams[name];
    if (!ua) out.push({ kind: 'upstream-added', name, detail: [...targetsOf(ub).keys()].map((t) => `target ${t}`) });
    else if (!ub) out.push({ kind: 'upstream-removed', name, detail: [...targetsOf(ua).keys()].map((t) => `target ${t}`) });
    else {
      const ta = targetsOf(ua);
      const tb = targetsOf(ub);
      const detail: string[] = [];
      for (const [t, w] of tb) if (!ta.has(t)) detail.push(`+ target ${t} (weight ${w})`);
      for (const [t] of ta) if (!tb.has(t)) detail.push(`- target ${t}`);
      for (const [t, w] of tb) if (ta.has(t) && ta.get(t) !== w) detail.push(`target ${t} weight ${ta.get(t)} → ${w}`);
      detail.push(...fieldChanges(ua as Record<string, unknown>, ub as Record<string, unknown>, ['targets']));
      if (detail.length > 0) out.push({ kind: 'upstream-changed', name, detail });
    }
  }
  const gp = policyChanges(a.policies, b.policies);
  if (gp.length > 0) out.push({ kind: 'policies-changed', name: '(global)', detail: gp });
  const la = new Map(a.listeners.map((l) => [l.name, l]));
  const lb = new Map(b.listeners.map((l) => [l.name, l]));
  for (const name of new Set([...la.keys(), ...lb.keys()])) {
    const d = fieldChanges((la.get(name) ?? {}) as Record<string, unknown>, (lb.get(name) ?? {}) as Record<string, unknown>);
    if (d.length > 0) out.push({ kind: 'listener-changed', name, detail: !la.has(name) ? ['added'] : !lb.has(name) ? ['removed'] : d });
  }
  const skip = ['routes', 'upstreams', 'policies', 'listeners', 'version'];
  const settings = fieldChanges(a as unknown as Record<string, unknown>, b as unknown as Record<string, unknown>, skip);
  for (const s of settings) out.push({ kind: 'setting-changed', name: s.split(':')[0]!, detail: [s] });
  return out;
}

const LABEL: Record<Change['kind'], string> = {
  'route-added': '+ route',
  'route-removed': '- route',
  'route-changed': '~ route',
  'route-shadowed': '! route shadowed',
  'upstream-added': '+ upstream',
  'upstream-removed': '- upstream',
  'upstream-changed': '~ upstream',
  'policies-changed': '~ policies',
  'listener-changed': '~ listener',
  'setting-changed': '~ setting',
};

/** `gantry diff OLD NEW`: 0 no blocking change, 1 a change would shadow a route, 2 a config is invalid. */
export async function diff(oldFile: string, newFile: string, out: NodeJS.WritableStream = process.stdout, err: NodeJS.WritableStream = process.stderr): Promise<number> {
  const [a, b] = await Promise.all([loadConfig(oldFile), loadConfig(newFile)]);
  for (const [file, r] of [[oldFile, a], [newFile, b]] as const) {
    if (!r.ok) {
      err.write(`${file} is invalid:\n${r.issues.map(formatIssue).join('\n')}\n`);
      return 2;
    }
  }
  if (!a.ok || !b.ok) return 2;
  const changes = diffConfigs(a.loaded.config, b.loaded.config);
  if (changes.length === 0) {
    out.write('no semantic changes\n');
    return 0;
  }
  for (const c of changes) {
    out.write(`${LABEL[c.kind]} ${c.name}\n`);
    for (const d of c.detail) out.write(`    ${d}\n`);
  }
  const blocking = changes.filter((c) => c.kind === 'route-shadowed');
  out.write(`\n${changes.length} change${changes.length === 1 ? '' : 's'}${blocking.length ? `; ${blocking.length} would shadow a route` : ''}\n`);
  return blocking.length > 0 ? 1 : 0;
}

