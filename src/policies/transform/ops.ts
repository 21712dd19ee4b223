import type { RequestContext } from '../../pipeline/context.js';
import { compileTemplate, type Template } from '../../pipeline/template.js';
import { removeHeader, type HeaderList } from '../../http/headers.js';
import type { HeaderOpsConfig, QueryOpsConfig } from './schema.js';

/** Header operations compiled at load, or null when there are none. */
export interface HeaderOps {
  remove: string[];
  rename: [string, string][];
  set: [string, Template][];
  add: [string, Template][];
}

export function compileHeaderOps(c: HeaderOpsConfig): HeaderOps | null {
  const ops: HeaderOps = {
    remove: c.remove.map((h) => h.toLowerCase()),
    rename: Object.entries(c.rename).map(([a, b]) => [a.toLowerCase(), b.toLowerCase()]),
    set: Object.entries(c.set).map(([k, v]) => [k.toLowerCase(), compileTemplate(v)]),
    add: Object.entries(c.add).map(([k, v]) => [k.toLowerCase(), compileTemplate(v)]),
  };
  return ops.remove.length + ops.rename.length + ops.set.length + ops.add.length === 0 ? null : ops;
}

export function applyHeaderOps(list: HeaderList, ops: HeaderOps, ctx: RequestContext): void {
  for (const n of ops.remove) removeHeader(list, n);
  for (const [from, to] of ops.rename) {
    for (let i = 0; i < list.length; i += 2) if (list[i]!.toLowerCase() === from) list[i] = to;
  }
  for (const [n, t] of ops.set) {
    removeHeader(list, n);
    list.push(n, t(ctx));
  }
  for (const [n, t] of ops.add) list.push(n, t(ctx));
}

/** Query operations compiled at load, or null when there are none. */
export type QueryOps = (query: string, ctx: RequestContext) => string;

export function compileQueryOps(c: QueryOpsConfig): QueryOps | null {
  const remove = c.remove;
  const rename = Object.entries(c.rename);
  const set = Object.entries(c.set).map(([k, v]) => [k, compileTemplate(v)] as const);
  const add = Object.entries(c.add).map(([k, v]) => [k, compileTemplate(v)] as const);
  if (remove.length + rename.length + set.length + add.length === 0) return null;
  return (query, ctx) => {
    const q = new URLSearchParams(query);
    for (const n of remove) q.delete(n);
    for (const [from, to] of rename) {
      const values = q.getAll(from);
      if (values.length === 0) continue;
      q.delete(from);
      for (const v of values) q.append(to, v);
    }
    for (const [n, t] of set) q.set(n, t(ctx));
    for (const [n, t] of add) q.append(n, t(ctx));
    const s = q.toString();
    return s === '' ? '' : '?' + s;
  };
}
