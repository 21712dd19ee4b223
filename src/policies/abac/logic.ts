import { BlockList, isIP } from 'node:net';
import { LogicEngine } from 'json-logic-engine';
import { parseCidr } from '../../config/validate.js';

/**
 * The JSON Logic engine used by `abac`: json-logic-engine, which compiles a rule into a
 * plain JS function once (`build`), plus two operators requests need:
 *
 * - `{ "cidr": [ { "var": "ip" }, "10.0.0.0/8", "fd00::/8" ] }` — the address is in one of the blocks;
 * - `{ "startsWith": [ { "var": "path" }, "/admin/" ] }`.
 */
const blocks = new Map<string, BlockList>();

function blockFor(cidr: string): BlockList | undefined {
  let bl = blocks.get(cidr);
  if (bl === undefined) {
    const c = parseCidr(cidr);
    if (c === undefined) return undefined;
    bl = new BlockList();
    bl.addSubnet(c.address, c.prefix, c.family);
    blocks.set(cidr, bl);
  }
  return bl;
}

export const engine = new LogicEngine();
engine.addMethod(
  'cidr',
  ([ip, ...ranges]: unknown[]) => {
    if (typeof ip !== 'string') return false;
    const v = isIP(ip);
    if (v === 0) return false;
    return ranges.some((r) => typeof r === 'string' && blockFor(r)?.check(ip, v === 4 ? 'ipv4' : 'ipv6') === true);
  },
  { deterministic: true },
);
engine.addMethod('startsWith', ([s, prefix]: unknown[]) => typeof s === 'string' && typeof prefix === 'string' && s.startsWith(prefix), { deterministic: true });

/** A compiled rule: data in, truthy = holds. */
export type Rule = (data: object) => unknown;

/**
 * Compiles a rule, or returns why it cannot be compiled.
 *
 * @example compileRule({ '==': [{ var: 'method' }, 'GET'] }) // (data) => boolean
 */
export function compileRule(rule: unknown): Rule | string {
  try {
    const fn = engine.build(rule) as Rule | unknown;
    if (typeof fn === 'function') return fn as Rule;
    return () => fn; // a constant rule (`true`, `false`)
  } catch (e) {
    const err = e as { type?: string; key?: string; message?: string };
    if (err?.type === 'Unknown Operator') return `unknown operator '${err.key}'`;
    return `invalid rule: ${err?.message ?? err?.type ?? String(e)}`;
  }
}
