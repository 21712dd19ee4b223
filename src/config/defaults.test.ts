import { describe, expect, it } from 'vitest';
import { Type } from '@sinclair/typebox';
import { ListenerLimits, Server, Timeouts, UpstreamPool } from './schema.js';
import { StoreSchema } from '../store/schema.js';
import { Reload } from './ops-schema.js';
import { Duration, Size } from './types.js';
import { schemaDefaults, withDefaults } from './validate.js';
import { DEFAULT_LIMITS, limitsOf } from '../listeners/http.js';
import { poolOptions } from '../upstreams/upstream.js';
import { loadConfig } from './load.js';

/**
 * Code that runs on an omitted section reads the schema's defaults (schemaDefaults), so the
 * schema and the reference docs made from it are their one source. The values below are the
 * ones the code held as literals before: deriving them changed no behaviour.
 */
describe('schemaDefaults: defaults of omitted sections come from the schema', () => {
  it.each([
    ['listeners[].limits', ListenerLimits, { maxHeaderSize: 16_384, maxUrlLength: 8192, headersTimeout: 10_000, requestTimeout: 300_000, keepAliveTimeout: 5000, maxConnections: 10_000, maxRequestsPerConnection: 0, maxConcurrentStreams: 100 }],
    ['server', Server, { trustedProxies: [], healthPath: '/healthz', readyPath: '/readyz', readyRequiresStore: true, drainTimeout: 30_000, via: 'gantry', mergeSlashes: true }],
    ['store', StoreSchema, { kind: 'memory', url: 'redis://127.0.0.1:6379', keyPrefix: 'gantry:', timeout: 500, maxBackoff: 2000 }],
    ['upstreams.<name>.pool', UpstreamPool, { connections: 128, keepAliveTimeout: 30_000, pipelining: 1 }],
    ['upstreams.<name>.timeouts', Timeouts, { connect: 5_000, response: 60_000, idle: 60_000 }],
    ['reload', Reload, { watch: true, debounce: 300 }],
  ])('%s', (_name, schema, expected) => {
    expect(schemaDefaults(schema)).toEqual(expected);
  });

  it('converts written forms like a loaded config, and freezes the result', () => {
    const d = schemaDefaults(Type.Object({ t: Duration({ default: '1m' }), s: Size({ default: '2kb' }), o: Type.Optional(Type.String()) }));
    expect(d).toEqual({ t: 60_000, s: 2048 });
    expect(Object.isFrozen(d)).toBe(true);
  });

  it('refuses a schema whose defaults do not validate', () => {
    expect(() => schemaDefaults(Type.Object({ t: Duration({ default: 'soon' }) }))).toThrow(/schema defaults do not validate: t must be a duration/);
    expect(() => schemaDefaults(Type.Object({ n: Type.Integer() }))).toThrow(/schema defaults do not validate/);
  });

  it('a listener or upstream written without the section gets what one written with every default gets', async () => {
    const text = (limits: string, pool: string) => `version: 1
listeners: [ { name: a, port: 0${limits} } ]
upstreams: { u: { targets: [ "http://127.0.0.1:1" ]${pool} } }
`;
    const load = async (t: string) => {
      const r = await loadConfig('/virtual/gateway.yaml', { text: t });
      if (!r.ok) throw new Error(JSON.stringify(r.issues));
      return r.loaded.config;
    };
    const bare = await load(text('', ''));
    const full = await load(text(', limits: {}', ', pool: {}'));
    expect(limitsOf(bare.listeners[0]!)).toEqual(DEFAULT_LIMITS);
    expect(limitsOf(full.listeners[0]!)).toEqual(DEFAULT_LIMITS);
    expect(poolOptions(bare.upstreams.u!)).toEqual(poolOptions(full.upstreams.u!));
  });
});

describe('withDefaults: a section written over its defaults', () => {
  it('takes every written field, keeps the default of a field absent or undefined, and leaves the defaults as they were', () => {
    const defaults: Readonly<Record<'connect' | 'response' | 'idle', number>> = Object.freeze({ connect: 5000, response: 60_000, idle: 60_000 });
    expect(withDefaults(defaults, { response: 2000, connect: undefined })).toEqual({ connect: 5000, response: 2000, idle: 60_000 });
    expect(withDefaults(defaults, undefined)).toEqual(defaults);
    expect(withDefaults(defaults, { idle: 0 })).toEqual({ connect: 5000, response: 60_000, idle: 0 });
    expect(defaults).toEqual({ connect: 5000, response: 60_000, idle: 60_000 });
  });
});
