import { createHash } from 'node:crypto';
import { readFileSync, statSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { GatewayConfigSchema, type GatewayConfig } from './schema.js';
import { ConfigSource, type ConfigIssue } from './source.js';
import { closest, validateInPlace, validatorFor } from './validate.js';
import { checkDefinition, type PolicyRegistry } from '../pipeline/registry.js';
import type { PolicyDefinition } from '../pipeline/policy.js';
import { builtinPolicies } from '../policies/index.js';
import { checkSemantics } from './semantics.js';
import { checkListenersTls } from '../listeners/tls-check.js';
import { checkUpstreamsTls } from '../upstreams/tls.js';
import { checkProxyProtocol } from '../listeners/proxy-protocol.js';
import { prepareGraphql } from '../handlers/graphql/lazy.js';
import { checkGrpcRoutes } from '../handlers/grpc/semantics.js';
import { checkInternalTokenKeys } from '../policies/internal-token/key.js';
import { checkOps } from './ops-checks.js';
import { lintConfig } from './lint.js';
import { forEachPolicyEntry } from './entries.js';
import { referencedFiles } from './references.js';
import { checkValidateEntries } from '../policies/validate/semantics.js';

/** A config that passed validation, ready to be built into a runtime. */
export interface LoadedConfig {
  config: GatewayConfig;
  source: ConfigSource;
  /** Built-in policies plus this config's plugins. */
  registry: PolicyRegistry;
  /** Directory relative paths in the config are resolved against. */
  baseDir: string;
  /** sha256 of the config text(s): the config's identity in status output. */
  hash: string;
  /** Warnings (lint) that do not stop the config from loading. */
  warnings: ConfigIssue[];
  /** The text this config was loaded from, file by file (what cluster workers build from). */
  files: ConfigFile[];
}

/** One file of a config as it was read: its absolute path and its text. */
export interface ConfigFile {
  file: string;
  text: string;
}

export type LoadResult = { ok: true; loaded: LoadedConfig } | { ok: false; issues: ConfigIssue[] };

export interface LoadOptions {
  env?: NodeJS.ProcessEnv;
  /** Treat `text` as the content of `path` instead of reading it (tests, admin API). */
  text?: string;
  /**
   * Load these files' texts instead of reading `path` (a cluster worker builds the text
   * the primary read: `LoadedConfig.files`). `path` still names the config (a folder when
   * the files lie inside it) for relative paths and messages.
   */
  files?: readonly ConfigFile[];
}

/**
 * Reads, interpolates, validates and type-converts a config file (or folder), reporting
 * every error at once with file, line and config path.
 */
export async function loadConfig(path: string, options: LoadOptions = {}): Promise<LoadResult> {
  const abs = resolve(path);
  const source = sourceOf(abs, options);
  if (source.errors.length > 0) return { ok: false, issues: source.issues };
  // Nothing written at all: one error at line 1, not the schema's missing keys at no line.
  if (Object.keys(source.value).length === 0 && source.empty.length > 0) {
    for (const name of source.empty) source.error(name, 1, '', 'the config file is empty');
    return { ok: false, issues: source.issues };
  }

  for (const issue of validateInPlace(GatewayConfigSchema, source.value)) source.issueAt(issue.path, issue.message);
  const config = source.value as unknown as GatewayConfig;
  const folder = options.files !== undefined ? !options.files.some((f) => f.file === abs) : isDir(abs);
  const baseDir = folder ? abs : dirname(abs);

  const registry = builtinPolicies.fork();
  const plugins = await loadPlugins(config, registry, baseDir, source, options.env ?? process.env);
  validatePolicies(config, registry, source, plugins);
  checkSemantics(config, source);
  checkValidateEntries(config, baseDir, source);
  checkListenersTls(config, baseDir, source);
  checkUpstreamsTls(config, baseDir, source);
  checkProxyProtocol(config, source);
  await prepareGraphql(config, baseDir, source);
  checkGrpcRoutes(config, baseDir, source);
  await checkInternalTokenKeys(config, baseDir, source);
  checkOps(config, source);

  if (source.errors.length > 0) return { ok: false, issues: sortIssues(source.issues) };
  lintConfig(config, source);
  // The hash is of the text parsed, not of the file now: it may have changed since.
  const hash = createHash('sha256');
  for (const t of source.texts) hash.update(t);
  const files = source.files.map((file, i) => ({ file, text: source.texts[i]! }));
  return {
    ok: true,
    loaded: { config, source, registry, baseDir, hash: hash.digest('hex').slice(0, 16), warnings: source.issues.filter((i) => i.severity === 'warning'), files },
  };
}

function sourceOf(abs: string, options: LoadOptions): ConfigSource {
  if (options.text !== undefined) return new ConfigSource(options.env).addText(options.text, abs);
  if (options.files === undefined) return readSource(abs, options.env);
  const source = new ConfigSource(options.env);
  for (const f of options.files) source.addText(f.text, f.file);
  return source;
}

/**
 * Reads the config file or folder. In a folder, a `.yaml`/`.yml` file the config itself names
 * (a `validate` schema `$ref: ./user.yaml`, a discovery `file.path`) is what the config reads
 * it as, not more config: the folder is read again without it.
 */
function readSource(abs: string, env: NodeJS.ProcessEnv | undefined): ConfigSource {
  const source = ConfigSource.read(abs, env);
  if (source.files.length < 2) return source;
  const refs = referencedFiles(source.value as unknown as GatewayConfig, abs, { protoImports: false });
  const named = new Set([...refs.files, ...refs.watchedElsewhere].filter((f) => source.files.includes(f)));
  return named.size === 0 ? source : ConfigSource.read(abs, env, named);
}

/**
 * Longest a plugin's import (its module graph and top-level code, `await`s included) may take.
 * A plugin normally loads in milliseconds; 10 s leaves room for a cold disk or top-level I/O,
 * yet bounds `gantry validate`, `gantry start` and every reload, which otherwise wait forever
 * on a top-level `await` that never settles. It stays under the cluster's worker start timeout
 * (30 s), so a worker reports this error instead of being killed. `GANTRY_PLUGIN_LOAD_TIMEOUT`
 * (milliseconds) overrides it.
 */
export const PLUGIN_LOAD_TIMEOUT = 10_000;

/** `GANTRY_PLUGIN_LOAD_TIMEOUT` when it is a positive number of ms; otherwise the default (and a warning if it was set). */
function pluginLoadTimeout(env: NodeJS.ProcessEnv, source: ConfigSource): number {
  const raw = env.GANTRY_PLUGIN_LOAD_TIMEOUT;
  if (raw === undefined || raw === '') return PLUGIN_LOAD_TIMEOUT;
  const ms = Number(raw);
  if (ms > 0 && ms <= MAX_TIMER_MS) return ms;
  source.issueAt(['plugins'], `GANTRY_PLUGIN_LOAD_TIMEOUT=${raw} is not a number of milliseconds from 1 to ${MAX_TIMER_MS}; using ${PLUGIN_LOAD_TIMEOUT}`, 'warning');
  return PLUGIN_LOAD_TIMEOUT;
}

/** setTimeout's largest delay; a larger one fires at once. */
const MAX_TIMER_MS = 2 ** 31 - 1;

class PluginTimeout extends Error {}

/**
 * Imports a module, giving up after `ms`. The import itself cannot be cancelled: a module
 * whose evaluation never settles stays pending in the module cache, and a later import of
 * the same file gets the same pending module (and this error again) until a restart.
 */
async function importBounded(url: string, ms: number): Promise<Record<string, unknown>> {
  let timer: NodeJS.Timeout | undefined;
  // Not unref'd: a pending import alone does not keep the process alive, and `gantry validate` must wait for the verdict.
  const timeout = new Promise<never>((_, reject) => (timer = setTimeout(() => reject(new PluginTimeout()), ms)));
  try {
    return (await Promise.race([import(url), timeout])) as Record<string, unknown>;
  } finally {
    clearTimeout(timer);
  }
}

/**
 * The URL a plugin is imported from: its file URL with the hash of its content as the query.
 * Node caches an ES module by URL for the life of the process and cannot unload it, so a
 * reload that imported the plain URL again would get the old code. With the hash, an
 * unchanged file is the same URL (the same module instance, its top-level state kept) and a
 * changed one a new URL, imported afresh. A file that cannot be read is imported by its
 * plain URL, so the error is Node's own (`Cannot find module …`).
 *
 * @example pluginUrl('/etc/gantry/policies/x.mjs') // 'file:///etc/gantry/policies/x.mjs?v=3f2a9c0d1e4b5a67'
 */
function pluginUrl(file: string): string {
  const url = pathToFileURL(file);
  try {
    url.search = `v=${createHash('sha256').update(readFileSync(file)).digest('hex').slice(0, 16)}`;
  } catch {
    // missing, a folder, unreadable: the import below reports it
  }
  return url.href;
}

const seconds = (ms: number) => (ms % 1000 === 0 ? `${ms / 1000}s` : `${ms}ms`);

/** What loading a config's plugins left behind, for the checks of the policy entries. */
export interface PluginOutcome {
  /** Policies whose definition was refused (a schema that does not compile, a bad shape): their plugin's issue says why. */
  broken: Set<string>;
  /** Plugins that defined nothing (did not import, timed out, exported no policy), as `./x.js (plugins[0])`. */
  failed: string[];
}

/** Loads the plugins into `registry`, reporting each failure at its `plugins[i]` entry. */
async function loadPlugins(config: GatewayConfig, registry: PolicyRegistry, baseDir: string, source: ConfigSource, env: NodeJS.ProcessEnv): Promise<PluginOutcome> {
  const outcome: PluginOutcome = { broken: new Set(), failed: [] };
  const list = Array.isArray(config.plugins) ? config.plugins : [];
  const timeoutMs = list.length > 0 ? pluginLoadTimeout(env, source) : PLUGIN_LOAD_TIMEOUT;
  for (const [i, spec] of list.entries()) {
    if (typeof spec !== 'string') continue;
    const fail = (message: string) => {
      source.issueAt(['plugins', i], message);
      outcome.failed.push(`${spec} (plugins[${i}])`);
    };
    const file = resolve(baseDir, spec);
    let mod: Record<string, unknown>;
    try {
      mod = await importBounded(pluginUrl(file), timeoutMs);
    } catch (e) {
      fail(e instanceof PluginTimeout ? `${spec}: did not finish loading within ${seconds(timeoutMs)}` : `cannot load plugin ${spec}: ${(e as Error).message.split('\n')[0]}`);
      continue;
    }
    const defs = 'default' in mod ? [mod.default] : Object.values(mod).filter((v) => !checkDefinition(v));
    if (defs.length === 0) fail(`${spec} exports no policy (export default definePolicy({...}))`);
    for (const def of defs) addPluginPolicy(def, spec, i, registry, source, outcome);
  }
  return outcome;
}

/** Registers one exported definition; a refused one is reported at the plugin, and its name (when it has one) marked broken. */
function addPluginPolicy(def: unknown, spec: string, i: number, registry: PolicyRegistry, source: ConfigSource, outcome: PluginOutcome): void {
  const name = (def as { name?: unknown } | null)?.name;
  try {
    registry.add(def as never);
  } catch (e) {
    source.issueAt(['plugins', i], `${spec}: ${(e as Error).message}`);
    if (typeof name === 'string' && !registry.get(name)) outcome.broken.add(name);
    else if (typeof name !== 'string') outcome.failed.push(`${spec} (plugins[${i}])`);
    return;
  }
  // Compiled now, so that a schema Ajv rejects is this plugin's error, not a crash where a policy entry uses it.
  try {
    validatorFor((def as PolicyDefinition).schema);
  } catch (e) {
    outcome.broken.add(name as string);
    source.issueAt(['plugins', i], `${spec}: policy '${name as string}' has a schema that does not compile: ${(e as Error).message.split('\n')[0]}`);
  }
}

/**
 * Checks every policy entry against the schema of the policy it names, recording issues in
 * `source`. A name no policy has while some plugin failed to load is still an error (it may
 * be a typo as well), but one that points at those plugins rather than listing the policies
 * that did load.
 */
export function validatePolicies(config: GatewayConfig, registry: PolicyRegistry, source: ConfigSource, plugins: PluginOutcome): void {
  forEachPolicyEntry(config, (name, _settings, at, entry) => {
    if (plugins.broken.has(name)) return; // its plugin's issue says why
    const def = registry.get(name);
    if (!def) {
      source.issueAt(at, unknownPolicy(name, registry, plugins.failed));
      return;
    }
    if (entry[name] === null || entry[name] === undefined) entry[name] = {};
    for (const issue of validateInPlace(def.schema, entry[name])) source.issueAt([...at, ...issue.path], issue.message);
  });
}

/**
 * @example unknownPolicy('stamp', registry, ['./stamp.mjs (plugins[0])'])
 *   // "unknown policy 'stamp': it may come from plugin ./stamp.mjs (plugins[0]), which failed to load"
 */
function unknownPolicy(name: string, registry: PolicyRegistry, failed: readonly string[]): string {
  const hint = closest(name, registry.names());
  if (failed.length === 0) return `unknown policy '${name}'${hint ? ` (did you mean '${hint}'?)` : ` (known: ${registry.names().join(', ')})`}`;
  const from = failed.length === 1 ? `plugin ${failed[0]}, which failed to load` : `one of the plugins ${failed.join(', ')}, which failed to load`;
  return `unknown policy '${name}'${hint ? ` (did you mean '${hint}'?)` : ''}: it may come from ${from}`;
}

function sortIssues(issues: ConfigIssue[]): ConfigIssue[] {
  return [...issues].sort((a, b) => a.file.localeCompare(b.file) || a.line - b.line);
}

function isDir(p: string): boolean {
  try {
    return statSync(p).isDirectory();
  } catch {
    return false;
  }
}
