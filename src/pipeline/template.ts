import type { RequestContext } from './context.js';

/**
 * Value templates used by policies: `"${request.id}"`, `"tenant-${tenant}"`. Compiled once
 * at load into a function of the request context; unknown variables are load errors.
 *
 * Variables:
 * - `request.id`, `request.method`, `request.path`, `request.query`, `request.host`
 * - `client.ip`, `route.name`, `listener.name`
 * - `consumer.id`, `consumer.tenant`, `consumer.tier`, `tenant`
 * - `params.<name>`, `header.<name>`, `query.<name>`, `claims.<name>`
 * - `env.<NAME>` (read at load)
 *
 * Write `$${` for a literal `${`. In a config file a name without a dot is read as an environment
 * variable first (config/source.ts), so the tenant's template is written `$${tenant}` there.
 */
export type Template = (ctx: RequestContext) => string;

type Getter = (ctx: RequestContext) => string | undefined;

const FIXED: Record<string, Getter> = {
  'request.id': (c) => c.id,
  'request.method': (c) => c.method,
  'request.path': (c) => c.path,
  'request.query': (c) => c.query,
  'request.host': (c) => c.req.headers.host,
  'client.ip': (c) => c.clientIp,
  'route.name': (c) => c.route?.name,
  'listener.name': (c) => c.listener.name,
  'consumer.id': (c) => c.consumer?.id,
  'consumer.tenant': (c) => c.consumer?.tenant,
  'consumer.tier': (c) => c.consumer?.tier,
  tenant: (c) => c.tenant ?? c.consumer?.tenant,
};

/**
 * Whether `${name}` in a config file, read there as an environment variable that is not set,
 * was meant as a template variable (`tenant`): its error says to write `$${name}`.
 */
export function isDotlessTemplateVariable(name: string): boolean {
  return !name.includes('.') && Object.hasOwn(FIXED, name);
}

function getterFor(name: string): Getter {
  const fixed = FIXED[name];
  if (fixed) return fixed;
  const dot = name.indexOf('.');
  const scope = dot > 0 ? name.slice(0, dot) : '';
  const key = name.slice(dot + 1);
  if (key === '') throw new Error(`unknown template variable '\${${name}}'`);
  switch (scope) {
    case 'params':
      return (c) => c.params[key];
    case 'header': {
      const lower = key.toLowerCase();
      return (c) => c.header(lower);
    }
    case 'query':
      return (c) => new URLSearchParams(c.query).get(key) ?? undefined;
    case 'claims':
      return (c) => {
        const v = c.consumer?.claims?.[key];
        return v === undefined ? undefined : typeof v === 'string' ? v : JSON.stringify(v);
      };
    case 'env': {
      const v = process.env[key];
      return () => v;
    }
    default:
      throw new Error(`unknown template variable '\${${name}}' (known: ${[...Object.keys(FIXED), 'params.*', 'header.*', 'query.*', 'claims.*', 'env.*'].join(', ')})`);
  }
}

/** Compiles a template; throws on unknown variables. Constant strings cost nothing per request. */
export function compileTemplate(source: string): Template {
  if (!source.includes('${')) return () => source;
  const parts: (string | Getter)[] = [];
  let last = 0;
  const re = /\$\$\{|\$\{([^}]+)\}/g;
  let m: RegExpExecArray | null;
  let literal = '';
  while ((m = re.exec(source)) !== null) {
    literal += source.slice(last, m.index);
    last = m.index + m[0].length;
    if (m[0] === '$${') {
      literal += '${';
      continue;
    }
    if (literal) parts.push(literal);
    literal = '';
    parts.push(getterFor(m[1]!.trim()));
  }
  literal += source.slice(last);
  if (literal) parts.push(literal);
  if (parts.length === 1 && typeof parts[0] !== 'string') {
    const g = parts[0]!;
    return (ctx) => g(ctx) ?? '';
  }
  return (ctx) => {
    let s = '';
    for (const p of parts) s += typeof p === 'string' ? p : (p(ctx) ?? '');
    return s;
  };
}
