/**
 * The key-by-key config reference (docs/config-schema.md), generated from the TypeBox
 * schemas themselves: the root schema and every built-in policy's. One walk gives both the
 * rendered page and the list of properties that lack a description (tested in
 * reference.test.ts, so a schema change without a regenerated page, or a key without a
 * description, fails CI). Run `npm run docs:schema` to regenerate.
 */

/** A JSON-Schema node as TypeBox builds it (only the keywords the walk reads). */
type Node = Record<string, unknown>;

/** One config key of an object: a table row. */
interface Row {
  key: string;
  type: string;
  required: boolean;
  default: string;
  description: string;
}

/** One object of the config (at a path such as `listeners[].limits`): a table. */
interface Table {
  path: string;
  /** Which form of a union this object is (`{ regex }`), when there are several at the path. */
  form?: string;
  description: string;
  /** Keys other than those listed are accepted (`additionalProperties` not false). */
  open: boolean;
  rows: Row[];
}

/** A built-in policy as the reference needs it (a `PolicyDefinition` fits). */
export interface PolicySchemaSource {
  name: string;
  description: string;
  schema: unknown;
}

/** A property (config path) whose schema has no description. */
export interface MissingDescription {
  path: string;
}

const X_GANTRY: Record<string, string> = {
  duration: 'duration',
  size: 'size',
  cidr: 'IP address or CIDR',
  'http-url': 'http(s) URL',
  regex: 'regular expression',
};

const isNode = (v: unknown): v is Node => typeof v === 'object' && v !== null && !Array.isArray(v);
const propsOf = (s: Node): Record<string, Node> | undefined => (isNode(s.properties) ? (s.properties as Record<string, Node>) : undefined);

/** The value schema and key pattern of a map (`Type.Record`), or undefined. */
function mapOf(s: Node): { value: Node; keyPattern: string | undefined } | undefined {
  if (isNode(s.patternProperties)) {
    const [pattern, value] = Object.entries(s.patternProperties as Record<string, Node>)[0] ?? [];
    if (value) return { value, keyPattern: pattern === '^(.*)$' ? undefined : pattern };
  }
  if (isNode(s.additionalProperties) && !propsOf(s)) return { value: s.additionalProperties as Node, keyPattern: undefined };
  return undefined;
}

/** The item schema of `OneOrMany(item)`. */
const oneOrManyItem = (s: Node): Node | undefined => (s['x-gantry'] === 'one-or-many' && Array.isArray(s.anyOf) ? (s.anyOf[0] as Node) : undefined);

/** A code span that survives backticks and table pipes. */
function code(text: string): string {
  const fence = text.includes('`') ? '``' : '`';
  const pad = text.includes('`') ? ' ' : '';
  return `${fence}${pad}${text}${pad}${fence}`;
}

/** A value in YAML flow style: plain strings bare, others quoted; `[a, b]`, `{ k: v }`. */
function flow(v: unknown): string {
  // Quoted when YAML would read it as something else: `"503"` (a string) is not `503`.
  if (typeof v === 'string') return /^[A-Za-z0-9_./:@-]+$/.test(v) && !/^([-+]?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?|true|false|null|~)$/i.test(v) ? v : JSON.stringify(v);
  if (Array.isArray(v)) return `[${v.map(flow).join(', ')}]`;
  if (isNode(v)) {
    const entries = Object.entries(v);
    return entries.length === 0 ? '{}' : `{ ${entries.map(([k, x]) => `${flow(k)}: ${flow(x)}`).join(', ')} }`;
  }
  return JSON.stringify(v);
}

/** A default or constant as written in the config. */
const literal = (v: unknown): string => code(flow(v));

/** Length, range, item-count and pattern constraints, in words. */
function constraints(s: Node): string[] {
  const out: string[] = [];
  const range = (lo: unknown, hi: unknown, unit: string) => {
    const u = (n: unknown) => (unit === '' ? '' : n === 1 ? ` ${unit}` : ` ${unit}s`);
    if (lo !== undefined && hi !== undefined) out.push(lo === hi ? `exactly ${lo}${u(lo)}` : `${lo}–${hi}${u(hi)}`);
    else if (lo !== undefined) out.push(`≥ ${lo}${u(lo)}`);
    else if (hi !== undefined) out.push(`≤ ${hi}${u(hi)}`);
  };
  range(s.minimum, s.maximum, '');
  if (s.exclusiveMinimum !== undefined) out.push(`> ${s.exclusiveMinimum}`);
  if (s.exclusiveMaximum !== undefined) out.push(`< ${s.exclusiveMaximum}`);
  range(s.minLength, s.maxLength, 'char');
  range(s.minItems, s.maxItems, 'item');
  range(s.minProperties, s.maxProperties, 'key');
  if (s.uniqueItems === true) out.push('unique');
  if (typeof s.pattern === 'string') out.push(`pattern ${code(s.pattern)}`);
  if (isNode(s.propertyNames) && typeof s.propertyNames.pattern === 'string') out.push(`keys match ${code(s.propertyNames.pattern)}`);
  return out;
}

const withConstraints = (base: string, s: Node): string => [base, ...constraints(s)].join(', ');
const wrap = (t: string): string => (/^`[^`]*`$/.test(t) || !(t.includes(', ') || t.includes(' or ')) ? t : `(${t})`);

/** What one walk collects, and the built-in policies' schemas by their JSON (to refer to, not repeat, one embedded elsewhere). */
interface Walk {
  out: Table[];
  missing: MissingDescription[];
  policies: Map<string, string>;
}

/** JSON of a schema without its own description: equal for a policy's schema and a described copy of it. */
const shape = (s: Node): string => JSON.stringify({ ...s, description: undefined });

/** The built-in policy whose whole schema `s` is, when it appears at another path (the `auth` schemes). */
function policyOf(s: Node, path: string, w: Walk): string | undefined {
  if (s.type !== 'object') return undefined;
  const name = w.policies.get(shape(s));
  return name !== undefined && path !== policyPath(name) ? name : undefined;
}

/** `{ a, b }`: an object form by its keys, to tell the branches of a union apart. */
const form = (props: Record<string, Node>): string => code(`{ ${Object.keys(props).join(', ')} }`);

/** An object's type: a pointer to its table, or to the policy whose config it is. */
function objectType(s: Node, props: Record<string, Node>, path: string, w: Walk, inUnion: boolean): string {
  const name = policyOf(s, path, w);
  if (name !== undefined) return `object: the ${code(name)} policy's config (see ${code(policyPath(name))})`;
  return withConstraints(inUnion ? form(props) : `object (see ${code(path)})`, s);
}

/**
 * The type of a schema in words: `duration`, `one of \`a\`, \`b\``, `list of string`, …;
 * objects point to their own table at `path`.
 * @example typeOf(Size(), 'x', w) // 'size'
 */
function typeOf(s: Node, path: string, w: Walk, inUnion = false): string {
  const kind = s['x-gantry'];
  const item = oneOrManyItem(s);
  if (item) return `${wrap(typeOf(item, path, w))} or a list of them`;
  if (typeof kind === 'string' && X_GANTRY[kind]) return withConstraints(X_GANTRY[kind], s);
  if ('const' in s) return literal(s.const);
  if (Array.isArray(s.anyOf)) {
    const branches = s.anyOf as Node[];
    if (branches.every((b) => 'const' in b)) return `one of ${branches.map((b) => literal(b.const)).join(', ')}`;
    const text = branches.map((b) => wrap(typeOf(b, path, w, true))).join(' or ');
    return branches.some((b) => b.type === 'object' && propsOf(b)) ? `${text} (see ${code(path)})` : text;
  }
  if (s.type === 'array' && isNode(s.items)) return withConstraints(`list of ${wrap(typeOf(s.items, `${path}[]`, w))}`, s);
  if (s.type === 'object') {
    const props = propsOf(s);
    if (props) return objectType(s, props, path, w, inUnion);
    const map = mapOf(s);
    if (map) {
      const keys = map.keyPattern ? `, keys match ${code(map.keyPattern)}` : '';
      return withConstraints(`map of ${code('<name>')} → ${wrap(typeOf(map.value, `${path}.<name>`, w))}${keys}`, s);
    }
    return withConstraints('object', s);
  }
  if (Array.isArray(s.type)) return withConstraints(s.type.join(' or '), s);
  if (typeof s.type === 'string') return withConstraints(s.type, s);
  return 'any';
}

const cell = (text: string): string => text.replaceAll('|', '\\|').replace(/\s*\n\s*/g, ' ').trim();

/** Collects the tables of every object reachable from `s` (at `path`) into `w.out`. */
function descend(s: Node, path: string, w: Walk, label?: string): void {
  const item = oneOrManyItem(s);
  if (item) return descend(item, path, w);
  if (Array.isArray(s.anyOf)) {
    const objects = (s.anyOf as Node[]).filter((b) => b.type === 'object' && propsOf(b));
    for (const b of s.anyOf as Node[]) descend(b, path, w, objects.length > 1 && objects.includes(b) ? form(propsOf(b)!) : undefined);
  }
  if (s.type === 'array' && isNode(s.items)) return descend(s.items, `${path}[]`, w);
  if (s.type !== 'object' || policyOf(s, path, w) !== undefined) return;
  const props = propsOf(s);
  if (props) return objectTable(s, props, path, w, label);
  const map = mapOf(s);
  if (map) descend(map.value, `${path}.<name>`, w);
}

function objectTable(s: Node, props: Record<string, Node>, path: string, w: Walk, label?: string): void {
  const required = new Set(Array.isArray(s.required) ? (s.required as string[]) : []);
  const table: Table = { path, description: typeof s.description === 'string' ? s.description : '', open: s.additionalProperties !== false, rows: [] };
  if (label !== undefined) table.form = label;
  w.out.push(table);
  for (const [key, p] of Object.entries(props)) {
    const childPath = path === '' ? key : `${path}.${key}`;
    const description = typeof p.description === 'string' ? p.description.trim() : '';
    if (description === '') w.missing.push({ path: childPath });
    table.rows.push({
      key,
      type: typeOf(p, childPath, w),
      required: required.has(key) && p.default === undefined,
      default: p.default === undefined ? '—' : literal(p.default),
      description,
    });
  }
  for (const [key, p] of Object.entries(props)) descend(p, path === '' ? key : `${path}.${key}`, w);
}

/** A table under its heading: the path, and which form of a union it is. */
function renderTable(t: Table, heading: string, title = code(t.path)): string {
  const lines = [`${heading} ${title}${t.form ? ` — form ${t.form}` : ''}`, ''];
  if (t.description) lines.push(cell(t.description), '');
  if (t.open) lines.push('Keys other than those listed are accepted too.', '');
  lines.push('| Key | Type | Required | Default | Description |', '| --- | --- | --- | --- | --- |');
  for (const r of t.rows) lines.push(`| ${code(r.key)} | ${cell(r.type)} | ${r.required ? 'yes' : 'no'} | ${cell(r.default)} | ${cell(r.description)} |`);
  return lines.join('\n');
}

/** The prefix of a built-in policy's keys: where its config sits in a route. */
export const policyPath = (name: string): string => `routes[].policies[].${name}`;

/** Walks the root schema and the policies' schemas; the tables per section, and what lacks a description. */
function walk(root: unknown, policies: readonly PolicySchemaSource[]) {
  const w: Walk = { out: [], missing: [], policies: new Map(policies.map((p) => [shape(p.schema as Node), p.name])) };
  const r = root as Node;
  objectTable(r, propsOf(r) ?? {}, '', w);
  const [top, ...rest] = w.out;
  const sections = Object.keys(propsOf(r) ?? {})
    .map((key) => ({ key, tables: rest.filter((t) => t.path === key || t.path.startsWith(`${key}.`) || t.path.startsWith(`${key}[]`)) }))
    .filter((sec) => sec.tables.length > 0);
  const policySections = policies.map((p) => {
    w.out = [];
    descend(p.schema as Node, policyPath(p.name), w);
    return { policy: p, tables: w.out };
  });
  return { top: top!, sections, policySections, missing: w.missing };
}

/** Every property of the root schema and the policies' schemas whose description is missing or empty. */
export function missingDescriptions(root: unknown, policies: readonly PolicySchemaSource[]): MissingDescription[] {
  return walk(root, policies).missing;
}

const INTRO = `# Config schema reference

<!-- Generated by \`npm run docs:schema\` (src/config/reference.ts) from the TypeBox schemas; do not edit by hand. -->

Every config key, generated from the schemas the gateway validates against: the root
schema (src/config/schema.ts) and each built-in policy's. For explanations and examples see
[configuration.md](configuration.md) and the topic pages it links.

Reading the paths: \`[]\` is an item of a list (\`listeners[].port\`), \`<name>\` a key of a
map you choose (\`upstreams.<name>.timeouts\`). A policy's keys sit under its name in a
\`policies:\` list, on a route (\`routes[].policies[].rate-limit\`) or at the top level
(\`policies[].rate-limit\`). *Required* is "yes" only for keys that must be written: keys
with a default are filled in. Types: a **duration** is \`250ms\`, \`5s\`, \`1m\`, \`1h\`, \`1d\` or a
number of milliseconds; a **size** is \`512b\`, \`64kb\`, \`10mb\`, \`1gb\` or a number of bytes.
Unknown keys are errors everywhere.`;

/**
 * Renders docs/config-schema.md: a table per config object, grouped by top-level key in
 * schema order, then one section per built-in policy in registry order. Deterministic.
 * @example
 *   writeFileSync('docs/config-schema.md', renderConfigReference(GatewayConfigSchema, BUILTIN_POLICIES));
 */
export function renderConfigReference(root: unknown, policies: readonly PolicySchemaSource[]): string {
  const { top, sections, policySections } = walk(root, policies);
  const parts = [INTRO, '## Top level', renderTable(top, '###', 'The config file')];
  for (const sec of sections) {
    parts.push(`## ${code(sec.key)}`);
    for (const t of sec.tables) parts.push(renderTable(t, '###'));
  }
  parts.push('## Built-in policies', 'In the order of the policy registry (src/policies/index.ts).');
  for (const { policy, tables } of policySections) {
    parts.push(`### Policy ${code(policy.name)}`, cell(policy.description));
    for (const t of tables) parts.push(renderTable(t, '####'));
  }
  return `${parts.join('\n\n')}\n`;
}
