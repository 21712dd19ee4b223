import { resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { resolveSchemaFiles, type SchemaFiles } from '../policies/validate/files.js';
import { protoFiles } from '../handlers/grpc/proto.js';
import { forEachPolicyEntry } from './entries.js';
import type { GatewayConfig } from './schema.js';

/**
 * The files a config reads besides its own text: the one list of them. `reload.watch`
 * watches `files` (watch.ts); a config folder leaves `files` and `watchedElsewhere` out of the
 * files it merges as config (load.ts), so a schema kept beside the config is not read as config.
 */
export interface ReferencedFiles {
  /** Read when the config loads (and again at each reload), absolute, sorted, each once. */
  files: string[];
  /** Read by the part that names them, which watches them itself: `file:` discovery of upstreams. */
  watchedElsewhere: string[];
  /** False when a file that references others (a schema, a proto) could not be read: those are unknown. */
  complete: boolean;
}

export interface ReferencedFilesOptions {
  /** Follow the imports of gRPC protos (loads protobufjs). Default true; the config loader, which only looks for YAML files, skips them. */
  protoImports?: boolean;
}

type Obj = Record<string, unknown>;
const isObj = (v: unknown): v is Obj => typeof v === 'object' && v !== null && !Array.isArray(v);
const list = (v: unknown): unknown[] => (Array.isArray(v) ? v : []);
const values = (v: unknown): unknown[] => (isObj(v) ? Object.values(v) : []);

/**
 * What a config reads besides its own text, as absolute paths:
 *
 * - listeners: `tls.cert`, `key`, `clientCa`, `certificates[].cert`/`key`;
 * - upstreams: `tls.ca`, `cert`, `key`; `file.path` (in `watchedElsewhere`: discovery polls it);
 * - routes: `grpc.protoFile` and the protos it imports, `grpc.tls.ca`, `graphql.schemaFile`;
 * - policy entries: the schema files of `validate` (and the files they `$ref`), the key of
 *   `internal-token`;
 * - `plugins`: the module files themselves (a changed one is imported afresh at reload,
 *   load.ts `pluginUrl`), not the modules they import.
 *
 * Not listed: `log.output` (written, not read). Takes the config as the YAML holds it (it may not be
 * valid yet): a value of the wrong shape is skipped.
 *
 * @example referencedFiles(gw.runtime.config, gw.runtime.loaded.baseDir).files // ['/etc/gantry/certs/gw.pem', …]
 */
export function referencedFiles(config: GatewayConfig, baseDir: string, options: ReferencedFilesOptions = {}): ReferencedFiles {
  const out = new Set<string>();
  const elsewhere = new Set<string>();
  let complete = true;
  const add = (p: unknown, to = out) => {
    if (typeof p === 'string' && p !== '') to.add(resolve(baseDir, p));
  };
  for (const l of list(config.listeners)) {
    const tls = isObj(l) ? l.tls : undefined;
    if (!isObj(tls)) continue;
    add(tls.cert);
    add(tls.key);
    add(tls.clientCa);
    for (const c of list(tls.certificates)) {
      if (!isObj(c)) continue;
      add(c.cert);
      add(c.key);
    }
  }
  for (const u of values(config.upstreams)) {
    if (!isObj(u)) continue;
    if (isObj(u.tls)) {
      add(u.tls.ca);
      add(u.tls.cert);
      add(u.tls.key);
    }
    if (isObj(u.file)) add(u.file.path, elsewhere);
  }
  for (const r of list(config.routes)) {
    if (!isObj(r)) continue;
    if (isObj(r.graphql)) add(r.graphql.schemaFile);
    const g = r.grpc;
    if (!isObj(g) || typeof g.protoFile !== 'string' || g.protoFile === '') continue;
    if (isObj(g.tls)) add(g.tls.ca);
    add(g.protoFile);
    if (options.protoImports === false) continue;
    // The route's own object: when the config loaded, its protos were parsed then (proto.ts keeps that parse).
    const protos = protoFiles(g as { protoFile: string }, baseDir);
    for (const f of protos.files) out.add(f);
    complete &&= protos.complete;
  }
  for (const p of list(config.plugins)) add(p);
  forEachPolicyEntry(config, (name, settings) => {
    if (!isObj(settings)) return;
    if (name === 'internal-token') add(settings.key);
    if (name !== 'validate') return;
    const files: SchemaFiles = new Map();
    for (const loc of ['body', 'query', 'params', 'headers']) {
      if (settings[loc] === undefined) continue;
      try {
        resolveSchemaFiles(settings[loc], baseDir, files);
      } catch {
        complete = false;
      }
    }
    for (const url of files.keys()) out.add(fileURLToPath(url));
  });
  return { files: [...out].sort(), watchedElsewhere: [...elsewhere].sort(), complete };
}
