import type { GatewayConfig } from '../../config/schema.js';
import type { ConfigSource } from '../../config/source.js';
import { forEachPolicyEntry, type ConfigPath } from '../../config/entries.js';
import { originProblem } from './origins.js';

/**
 * Policies that refuse a request without credentials. A browser never sends credentials
 * on a preflight (Fetch §4.8), so one of these before `cors` refuses every preflight.
 * (Names, not imports: config checks stay free of the policy modules.)
 */
const CREDENTIAL_POLICIES = new Set(['api-key', 'auth', 'jwt', 'mtls', 'basic-auth', 'oauth2-introspection', 'rbac', 'abac', 'opa']);
/** Policies that answer requests themselves (cache hits, 429s): before `cors`, their answers carry no CORS headers. */
const ANSWERING_POLICIES = new Set(['cache', 'rate-limit', 'quota', 'concurrency']);

/**
 * Checks on `cors` entries that the schema cannot express, naming file:line:path: each
 * origin is an origin, a wildcard or `*`; no `*` with credentials (Fetch §3.2.3: browsers
 * refuse `*` on a credentialed response, and echoing any origin would let every web site
 * read responses with the user's cookies); and a warning when an authentication policy
 * (preflights refused) or one that answers itself (cache hits, 429s without CORS headers)
 * runs before `cors`.
 *
 * @example
 *   checkCorsEntries(config, source); // routes[0].policies[0].cors.credentials: needs listed origins, not '*' …
 */
export function checkCorsEntries(config: GatewayConfig, source: ConfigSource): void {
  forEachPolicyEntry(config, (name, settings, at) => {
    if (name !== 'cors' || typeof settings !== 'object' || settings === null) return;
    const { origins, exposeHeaders, credentials } = settings as Record<string, unknown>;
    if (Array.isArray(origins)) {
      origins.forEach((o: unknown, i) => {
        const problem = typeof o === 'string' ? originProblem(o) : undefined;
        if (problem !== undefined) source.issueAt([...at, 'origins', i], problem);
      });
    }
    if (credentials !== true) return;
    if (Array.isArray(origins) && origins.includes('*')) {
      source.issueAt([...at, 'credentials'], "needs listed origins, not '*': browsers refuse '*' with credentials, and echoing any origin would let every web site read responses with the user's cookies; list the origins (wildcard subdomains like 'https://*.example.com' work)");
    }
    if (Array.isArray(exposeHeaders) && exposeHeaders.includes('*')) {
      source.issueAt([...at, 'exposeHeaders'], "'*' is a literal name with credentials (Fetch §3.2.3); list the headers to expose");
    }
  });
  warnCredentialsFirst(config, source);
  if (Array.isArray(config.consumers)) {
    config.consumers.forEach((c, i) => {
      for (const e of entriesOf((c as { policies?: unknown } | null)?.policies, ['consumers', i, 'policies'])) {
        if (e.name === 'cors') source.issueAt(e.at, 'a consumer\'s policies run after authentication: preflights (which carry no credentials) never reach this cors; put it on the route, its upstream or the global list', 'warning');
      }
    });
  }
}

/** Warns when a route's pipeline (global policies first) authenticates before `cors` answers preflights. */
function warnCredentialsFirst(config: GatewayConfig, source: ConfigSource): void {
  const global = entriesOf(config.policies, ['policies']);
  if (!Array.isArray(config.routes)) return;
  const warned = new Set<string>(); // a global entry is reported once, not per route
  const upstreams = (config.upstreams ?? {}) as Record<string, { policies?: unknown } | null>;
  config.routes.forEach((r, i) => {
    const own = entriesOf((r as { policies?: unknown } | null)?.policies, ['routes', i, 'policies']);
    // Pipeline order: global, the route's upstream's, the route's own (consumers' come after authentication).
    const target = (r as { upstream?: unknown } | null)?.upstream;
    const ofUpstream = typeof target === 'string' && Object.hasOwn(upstreams, target) ? entriesOf(upstreams[target]?.policies, ['upstreams', target, 'policies']) : [];
    let auth: string | undefined;
    let answering: string | undefined;
    for (const e of [...global, ...ofUpstream, ...own]) {
      if (CREDENTIAL_POLICIES.has(e.name)) auth ??= e.name;
      else if (ANSWERING_POLICIES.has(e.name)) answering ??= e.name;
      else if (e.name === 'cors' && (auth !== undefined || answering !== undefined)) {
        const key = e.at.join('.');
        if (warned.has(key)) return;
        warned.add(key);
        const preflights = (e.settings as { preflight?: unknown } | null)?.preflight !== false;
        if (auth !== undefined && preflights) {
          source.issueAt(e.at, `runs after '${auth}': preflights carry no credentials, so '${auth}' would refuse them; put cors before it`, 'warning');
        } else {
          const by = answering ?? auth!;
          source.issueAt(e.at, `runs after '${by}': the answers '${by}' gives itself carry no CORS headers, so scripts cannot read them; put cors before it`, 'warning');
        }
        return;
      }
    }
  });
}

function entriesOf(list: unknown, base: ConfigPath): { name: string; settings: unknown; at: ConfigPath }[] {
  if (!Array.isArray(list)) return [];
  const out: { name: string; settings: unknown; at: ConfigPath }[] = [];
  list.forEach((entry: unknown, j) => {
    if (typeof entry !== 'object' || entry === null) return;
    const keys = Object.keys(entry);
    if (keys.length === 1) out.push({ name: keys[0]!, settings: (entry as Record<string, unknown>)[keys[0]!], at: [...base, j, keys[0]!] });
  });
  return out;
}
