import { Ajv, type ErrorObject, type ValidateFunction } from 'ajv';
import type { Static, TSchema } from '@sinclair/typebox';
import { BlockList, isIP } from 'node:net';
import { parseDuration, parseSize } from './units.js';

/**
 * One Ajv instance for the whole gateway: every config schema (root, policies, handlers,
 * plugins) is compiled here, with the `x-gantry` keyword that converts written forms
 * (durations, sizes, one-or-many) to their compiled values in place.
 */
export const ajv = new Ajv({
  allErrors: true,
  useDefaults: true,
  strict: false,
  coerceTypes: false,
  verbose: true,
});

type Converter = (value: unknown) => { ok: true; value: unknown } | { ok: false; message: string };

const converters: Record<string, Converter> = {
  duration(v) {
    const ms = parseDuration(v);
    return ms === undefined ? { ok: false, message: 'must be a duration such as 250ms, 5s, 1m or 1h' } : { ok: true, value: ms };
  },
  size(v) {
    const b = parseSize(v);
    return b === undefined ? { ok: false, message: 'must be a size such as 512b, 64kb or 10mb' } : { ok: true, value: b };
  },
  cidr(v) {
    if (typeof v !== 'string') return { ok: true, value: v };
    return parseCidr(v) ? { ok: true, value: v } : { ok: false, message: 'must be an IP address or CIDR block such as 10.0.0.0/8' };
  },
  'http-url'(v) {
    if (typeof v !== 'string') return { ok: true, value: v };
    try {
      const u = new URL(v);
      if (u.protocol !== 'http:' && u.protocol !== 'https:') return { ok: false, message: 'must be an http:// or https:// URL' };
      return { ok: true, value: v };
    } catch {
      return { ok: false, message: 'must be an absolute URL such as http://127.0.0.1:7001' };
    }
  },
  regex(v) {
    if (typeof v !== 'string') return { ok: true, value: v };
    try {
      new RegExp(v);
      return { ok: true, value: v };
    } catch (e) {
      return { ok: false, message: `is not a valid regular expression (${(e as Error).message})` };
    }
  },
  'one-or-many'(v) {
    return { ok: true, value: Array.isArray(v) ? v : [v] };
  },
};

ajv.addKeyword({
  keyword: 'x-gantry',
  modifying: true,
  errors: true,
  validate: function gantryConvert(
    this: unknown,
    kind: string,
    data: unknown,
    _schema?: unknown,
    cxt?: { parentData: Record<string | number, unknown>; parentDataProperty: string | number },
  ): boolean {
    const conv = converters[kind];
    if (!conv) return true;
    const r = conv(data);
    const self = gantryConvert as unknown as { errors?: Partial<ErrorObject>[] };
    if (!r.ok) {
      self.errors = [{ keyword: 'x-gantry', message: r.message, params: { kind } }];
      return false;
    }
    if (cxt && cxt.parentData !== undefined && r.value !== data) cxt.parentData[cxt.parentDataProperty] = r.value;
    return true;
  },
});

/** Parses `addr` or `addr/prefix`; undefined when invalid. */
export function parseCidr(s: string): { address: string; prefix: number; family: 'ipv4' | 'ipv6' } | undefined {
  const [address = '', prefixText] = s.split('/');
  const v = isIP(address);
  if (v === 0) return undefined;
  const max = v === 4 ? 32 : 128;
  const prefix = prefixText === undefined ? max : Number(prefixText);
  if (!Number.isInteger(prefix) || prefix < 0 || prefix > max || (prefixText !== undefined && !/^\d+$/.test(prefixText))) return undefined;
  return { address, prefix, family: v === 4 ? 'ipv4' : 'ipv6' };
}

/** Compiles a list of CIDRs/addresses into a `BlockList` for O(rules) membership tests. */
export function compileCidrs(list: readonly string[]): BlockList {
  const bl = new BlockList();
  for (const s of list) {
    const c = parseCidr(s);
    if (c) bl.addSubnet(c.address, c.prefix, c.family);
  }
  return bl;
}

const compiled = new WeakMap<TSchema, ValidateFunction>();

/** Compiles (once per schema object) and returns the validator. */
export function validatorFor(schema: TSchema): ValidateFunction {
  let v = compiled.get(schema);
  if (!v) {
    v = ajv.compile(schema);
    compiled.set(schema, v);
  }
  return v;
}

/**
 * What an object schema gives an omitted section: every property's `default`, converted as
 * a written value would be (`'10s'` → 10000, `'16kb'` → 16384), frozen. Code that runs on an
 * optional section reads its defaults here, so the schema (and the reference docs made from
 * it) is their one source.
 *
 * @example
 *   const LIMIT_DEFAULTS = schemaDefaults(ListenerLimits); // { maxHeaderSize: 16384, headersTimeout: 10000, … }
 *   const limits = withDefaults(LIMIT_DEFAULTS, cfg.limits);
 */
export function schemaDefaults<T extends TSchema>(schema: T): Readonly<Static<T>> {
  const data = {};
  const issues = validateInPlace(schema, data);
  if (issues.length > 0) throw new Error(`schema defaults do not validate: ${issues.map((i) => `${i.path.join('.')} ${i.message}`).join('; ')}`);
  return Object.freeze(data) as Static<T>;
}

/**
 * `defaults` with the fields a section writes over them. A field present but undefined
 * (an optional key not written) keeps its default, where a plain spread would erase it.
 *
 * @example
 *   withDefaults({ connect: 5000, response: 60000 }, { response: 2000, connect: undefined }); // { connect: 5000, response: 2000 }
 */
export function withDefaults<T extends object>(defaults: Readonly<T>, section: Partial<T> | undefined): T {
  const out = { ...defaults } as T;
  if (section === undefined) return out;
  for (const [k, v] of Object.entries(section)) if (v !== undefined) (out as Record<string, unknown>)[k] = v;
  return out;
}

/** A validation problem at a path below the validated value. */
export interface SchemaIssue {
  /** Path segments relative to the validated value. */
  path: (string | number)[];
  message: string;
}

/**
 * Validates (and converts, and fills defaults into) `data` in place. Returns the issues,
 * readable and de-duplicated: unions report the branch that fits the value's type.
 */
export function validateInPlace(schema: TSchema, data: unknown): SchemaIssue[] {
  const v = validatorFor(schema);
  if (v(data)) return [];
  return simplify(v.errors ?? []);
}

function pointerToPath(p: string): (string | number)[] {
  if (p === '') return [];
  return p
    .slice(1)
    .split('/')
    .map((s) => s.replaceAll('~1', '/').replaceAll('~0', '~'))
    .map((s) => (/^\d+$/.test(s) ? Number(s) : s));
}

function typeOfValue(v: unknown): string {
  if (v === null) return 'null';
  if (Array.isArray(v)) return 'array';
  if (typeof v === 'number') return Number.isInteger(v) ? 'integer' : 'number';
  return typeof v;
}

function describeBranch(schema: Record<string, unknown>): string {
  if ('const' in schema) return JSON.stringify(schema.const);
  if (Array.isArray(schema.type)) return schema.type.join(' or ');
  if (typeof schema.type === 'string') {
    if (schema.type === 'object') return 'a map';
    if (schema.type === 'array') return 'a list';
    return `${/^[aeiou]/.test(schema.type) ? 'an' : 'a'} ${schema.type}`;
  }
  return 'a valid value';
}

function simplify(errors: ErrorObject[]): SchemaIssue[] {
  // Union errors: keep only the errors of branches whose type fits the data.
  const unions = errors.filter((e) => e.keyword === 'anyOf' || e.keyword === 'oneOf');
  const drop = new Set<ErrorObject>();
  const extra: SchemaIssue[] = [];
  for (const u of unions) {
    const prefix = u.schemaPath + '/';
    const branches = new Map<string, ErrorObject[]>();
    for (const e of errors) {
      if (e === u || !e.schemaPath.startsWith(prefix)) continue;
      const idx = e.schemaPath.slice(prefix.length).split('/')[0]!;
      (branches.get(idx) ?? branches.set(idx, []).get(idx)!).push(e);
      drop.add(e);
    }
    drop.add(u);
    const fitting = [...branches.values()].filter(
      (errs) => !errs.some((e) => e.instancePath === u.instancePath && (e.keyword === 'type' || e.keyword === 'const')),
    );
    if (fitting.length > 0) {
      // The first branch whose type fits is the one the operator meant.
      for (const e of fitting[0]!) drop.delete(e);
    } else {
      const options = (u.schema as Record<string, unknown>[]).map(describeBranch);
      const allConst = (u.schema as Record<string, unknown>[]).every((s) => 'const' in s);
      extra.push({
        path: pointerToPath(u.instancePath),
        message: allConst ? `must be one of: ${options.join(', ')}` : `must be ${[...new Set(options)].join(' or ')} (got ${typeOfValue(u.data)})`,
      });
    }
  }
  const out: SchemaIssue[] = [];
  const seen = new Set<string>();
  for (const e of errors) {
    if (drop.has(e)) continue;
    const issue = toIssue(e);
    const key = issue.path.join('/') + '|' + issue.message;
    if (!seen.has(key)) {
      seen.add(key);
      out.push(issue);
    }
  }
  for (const x of extra) {
    const key = x.path.join('/') + '|' + x.message;
    if (!seen.has(key)) {
      seen.add(key);
      out.push(x);
    }
  }
  return out;
}

function toIssue(e: ErrorObject): SchemaIssue {
  const path = pointerToPath(e.instancePath);
  switch (e.keyword) {
    case 'additionalProperties': {
      const key = (e.params as { additionalProperty: string }).additionalProperty;
      // A map whose keys are names (upstreams, tiers, header names): the key does not match.
      const patterns = Object.keys((e.parentSchema as { patternProperties?: object })?.patternProperties ?? {});
      if (patterns.length > 0) return { path: [...path, key], message: `${key === '' ? 'an empty key is not allowed' : `unknown key '${key}'`} (keys must match ${patterns.join(' or ')})` };
      const known = Object.keys((e.parentSchema as { properties?: object })?.properties ?? {});
      const hint = closest(key, known);
      return { path: [...path, key], message: `unknown key '${key}'${hint ? ` (did you mean '${hint}'?)` : known.length ? ` (expected one of: ${known.join(', ')})` : ''}` };
    }
    case 'required':
      return { path: [...path, (e.params as { missingProperty: string }).missingProperty], message: 'is required' };
    case 'type':
      return { path, message: `must be ${describeBranch({ type: (e.params as { type: string | string[] }).type })} (got ${typeOfValue(e.data)})` };
    case 'const':
      return { path, message: `must be ${JSON.stringify((e.params as { allowedValue: unknown }).allowedValue)}` };
    case 'minProperties':
    case 'maxProperties':
      return { path, message: e.message ?? 'invalid' };
    case 'pattern':
      return { path, message: `must match ${(e.params as { pattern: string }).pattern}` };
    default:
      return { path, message: e.message ?? 'is invalid' };
  }
}

/** The known word nearest to `word` (edit distance ≤ 2), for "did you mean" hints. */
export function closest(word: string, known: readonly string[]): string | undefined {
  let best: string | undefined;
  let bestD = 3;
  for (const k of known) {
    const d = editDistance(word.toLowerCase(), k.toLowerCase());
    if (d < bestD) {
      bestD = d;
      best = k;
    }
  }
  return best;
}

function editDistance(a: string, b: string): number {
  const dp = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    let prev = dp[0]!;
    dp[0] = i;
    for (let j = 1; j <= b.length; j++) {
      const tmp = dp[j]!;
      dp[j] = Math.min(dp[j]! + 1, dp[j - 1]! + 1, prev + (a[i - 1] === b[j - 1] ? 0 : 1));
      prev = tmp;
    }
  }
  return dp[b.length]!;
}
