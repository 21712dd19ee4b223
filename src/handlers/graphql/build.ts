import { closeSync, openSync, readSync } from 'node:fs';
import { Buffer } from 'node:buffer';
import { resolve } from 'node:path';
import {
  GraphQLError,
  GraphQLObjectType,
  buildASTSchema,
  isNonNullType,
  isObjectType,
  parse,
  validateSchema,
  type DocumentNode,
  type GraphQLField,
  type GraphQLSchema,
} from 'graphql';
// graphql-js validates SDL only inside buildASTSchema, where it joins the messages and drops
// their locations; its own validateSDL (pinned graphql version) keeps them for file:line errors.
import { validateSDL } from 'graphql/validation/validate.js';
import { closest } from '../../config/validate.js';
import type { GraphqlConfig, GraphqlResolverConfig } from './schema.js';

/** Largest SDL file read (a schema that large is generated; split it or trim it). */
export const MAX_SDL_BYTES = 1024 * 1024;

/** A problem found while building: at a config path under the route's `graphql`, or at a line of the SDL. */
export interface BuildIssue {
  /** Path under `graphql:`, e.g. `['resolvers', 'Query.product', 'path']`. */
  path: (string | number)[];
  message: string;
  /** Line in the SDL text (1-based) when the problem is in the SDL. */
  sdlLine?: number;
  severity?: 'error' | 'warning';
}

/** The SDL, the schema built from it, and what was wrong. */
export interface BuiltSchema {
  schema: GraphQLSchema | undefined;
  /** Absolute path of `schemaFile`, when the SDL came from a file. */
  file: string | undefined;
  issues: BuildIssue[];
}

/**
 * Reads and builds the SDL of a `graphql:` config, then checks each resolver key names a
 * field of an object type, its templates name arguments the field has, and options fit
 * the field's type. Upstream names and route params are checked by the caller.
 *
 * @example
 *   const built = buildGraphqlSchema({ schema: 'type Query { a: Int }', resolvers: {} }, '/etc/gantry');
 *   if (built.issues.length === 0) use(built.schema!);
 */
export function buildGraphqlSchema(cfg: Partial<GraphqlConfig>, baseDir: string): BuiltSchema {
  const issues: BuildIssue[] = [];
  const out: BuiltSchema = { schema: undefined, file: undefined, issues };
  const hasInline = typeof cfg.schema === 'string';
  const hasFile = typeof cfg.schemaFile === 'string';
  if (hasInline === hasFile) {
    issues.push({ path: [], message: hasInline ? 'use either schema or schemaFile, not both' : 'graphql needs the schema: schema (SDL inline) or schemaFile' });
    return out;
  }
  let sdl: string;
  const sdlPath = hasInline ? ['schema'] : ['schemaFile'];
  if (hasFile) {
    out.file = resolve(baseDir, cfg.schemaFile!);
    try {
      sdl = readSdl(out.file);
    } catch (e) {
      issues.push({ path: sdlPath, message: `cannot read ${cfg.schemaFile}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}` });
      return out;
    }
  } else {
    sdl = cfg.schema!;
  }
  let doc: DocumentNode;
  try {
    doc = parse(sdl, { noLocation: false });
  } catch (e) {
    issues.push(sdlIssue(sdlPath, e as GraphQLError));
    return out;
  }
  const sdlErrors = validateSDL(doc);
  if (sdlErrors.length > 0) {
    for (const e of sdlErrors) issues.push(sdlIssue(sdlPath, e));
    return out;
  }
  const schema = buildASTSchema(doc, { assumeValidSDL: true });
  const schemaErrors = validateSchema(schema);
  if (schemaErrors.length > 0) {
    for (const e of schemaErrors) issues.push(sdlIssue(sdlPath, e));
    return out;
  }
  const sub = schema.getSubscriptionType();
  if (sub) issues.push({ ...sdlIssue(sdlPath, new GraphQLError('subscriptions are not supported: remove the subscription type', { nodes: sub.astNode ?? null })) });
  checkResolvers(schema, cfg.resolvers ?? {}, issues);
  if (!issues.some((i) => i.severity !== 'warning')) out.schema = schema;
  return out;
}

function sdlIssue(path: (string | number)[], e: GraphQLError): BuildIssue {
  const loc = e.locations?.[0];
  const message = e.message.replace(/^Syntax Error: /, 'GraphQL syntax error: ');
  return loc === undefined ? { path, message } : { path, message: `${message} (SDL line ${loc.line}, column ${loc.column})`, sdlLine: loc.line };
}

/** Reads a file as UTF-8, at most MAX_SDL_BYTES of it. */
function readSdl(file: string): string {
  const fd = openSync(file, 'r');
  try {
    const buf = Buffer.alloc(MAX_SDL_BYTES + 1);
    let n = 0;
    for (let r = 1; r > 0 && n <= MAX_SDL_BYTES; n += r) r = readSync(fd, buf, n, buf.length - n, null);
    if (n > MAX_SDL_BYTES) throw new Error(`larger than ${MAX_SDL_BYTES / 1024 / 1024}mb`);
    return buf.toString('utf8', 0, n);
  } finally {
    closeSync(fd);
  }
}

/** The field a `Type.field` key names, or undefined with an issue. */
export function resolverField(schema: GraphQLSchema, key: string, issues?: BuildIssue[]): { type: GraphQLObjectType; field: GraphQLField<unknown, unknown> } | undefined {
  const [typeName, fieldName] = key.split('.') as [string, string];
  const path = ['resolvers', key];
  const type = schema.getType(typeName);
  if (type === undefined || typeName.startsWith('__')) {
    const names = Object.keys(schema.getTypeMap()).filter((n) => !n.startsWith('__') && isObjectType(schema.getType(n)));
    const hint = closest(typeName, names);
    issues?.push({ path, message: `unknown type '${typeName}' in the schema${hint ? ` (did you mean '${hint}'?)` : ''}` });
    return undefined;
  }
  if (!isObjectType(type)) {
    issues?.push({ path, message: `'${typeName}' is not an object type: resolvers go on the object types that implement or belong to it` });
    return undefined;
  }
  const field = type.getFields()[fieldName];
  if (field === undefined) {
    const hint = closest(fieldName, Object.keys(type.getFields()));
    issues?.push({ path, message: `type '${typeName}' has no field '${fieldName}'${hint ? ` (did you mean '${hint}'?)` : ''}` });
    return undefined;
  }
  return { type, field };
}

/** Placeholders of a template: `{args.a.b}` → ['args', 'a', 'b']. */
export function placeholders(template: string): { raw: string; parts: string[] }[] {
  return [...template.matchAll(/\{([^}]*)\}/g)].map((m) => ({ raw: m[0], parts: m[1]!.split('.') }));
}

function checkResolvers(schema: GraphQLSchema, resolvers: Record<string, GraphqlResolverConfig>, issues: BuildIssue[]): void {
  const roots = new Set([schema.getQueryType()?.name, schema.getMutationType()?.name].filter((n) => n !== undefined));
  for (const [key, r] of Object.entries(resolvers)) {
    if (!r || typeof r !== 'object') continue;
    const found = resolverField(schema, key, issues);
    if (found === undefined) continue;
    const { type, field } = found;
    const at = (k: string) => ['resolvers', key, k];
    const args = new Set(field.args.map((a) => a.name));
    const argList = args.size > 0 ? `its arguments: ${[...args].join(', ')}` : 'it takes no arguments';
    if (typeof r.path === 'string') {
      for (const p of placeholders(r.path)) {
        const [kind, name] = p.parts;
        if (p.parts.some((s) => s === '') || name === undefined) issues.push({ path: at('path'), message: `${p.raw} is not a placeholder: use {args.NAME}, {parent.NAME} or {params.NAME}` });
        else if (kind === 'args' && !args.has(name)) issues.push({ path: at('path'), message: `${p.raw}: field ${key} has no argument '${name}' (${argList})` });
        else if (kind === 'parent' && roots.has(type.name)) issues.push({ path: at('path'), message: `${p.raw}: ${type.name} is a root type, its fields have no parent object` });
        else if (kind !== 'args' && kind !== 'parent' && kind !== 'params') issues.push({ path: at('path'), message: `${p.raw} is not a placeholder: use {args.NAME}, {parent.NAME} or {params.NAME}` });
      }
    }
    if (typeof r.body === 'string') {
      const name = r.body.split('.')[1];
      if ((r.method ?? 'GET') === 'GET') issues.push({ path: at('body'), message: 'a GET request carries no body: set method (POST, PUT, PATCH or DELETE)' });
      else if (name !== undefined && !args.has(name)) issues.push({ path: at('body'), message: `field ${key} has no argument '${name}' (${argList})` });
    }
    if (r.nullOnNotFound === true && isNonNullType(field.type)) issues.push({ path: at('nullOnNotFound'), message: `${key} is non-null (${String(field.type)}): it cannot resolve to null` });
  }
  for (const root of [schema.getQueryType(), schema.getMutationType()]) {
    if (!root) continue;
    for (const f of Object.values(root.getFields())) {
      const key = `${root.name}.${f.name}`;
      if (!Object.hasOwn(resolvers, key)) issues.push({ path: ['resolvers'], message: `${key} has no resolver: it always resolves to null`, severity: 'warning' });
    }
  }
}
