import { describe, expect, it } from 'vitest';
import type { RouteConfig } from '../config/schema.js';
import type { Upstream } from '../upstreams/upstream.js';
import type { Handler, HandlerDeps } from './handler.js';
import { wrapTarget } from './index.js';

describe('wrapTarget', () => {
  // withMirror only looks the mirror's upstream up at build time; nothing here sends a request.
  const deps = { upstreams: new Map([['shadow', {} as Upstream]]) } as unknown as HandlerDeps;
  const route = { name: 'r', match: { path: '/x' }, upstream: 'main', mirror: { upstream: 'shadow' } } as unknown as RouteConfig;

  it("keeps a wrapped target's extra endpoints and its close()", () => {
    let closed = 0;
    const extra: Handler = { description: 'status', handle() {} };
    const inner: Handler = {
      description: 'target',
      handle() {},
      routes: [{ match: { path: '/x/:id' }, handler: extra }],
      close() {
        closed++;
      },
    };
    const outer = wrapTarget(inner, route, deps);
    expect(outer).not.toBe(inner);
    expect(outer.description).toMatch(/target/);
    expect(outer.routes?.[0]?.handler).toBe(extra);
    outer.close?.();
    expect(closed).toBe(1);
  });

  it('returns the target itself when no wrapper applies', () => {
    const inner: Handler = { description: 'target', handle() {} };
    const plain = { name: 'r', match: { path: '/x' }, upstream: 'main' } as unknown as RouteConfig;
    expect(wrapTarget(inner, plain, deps)).toBe(inner);
  });

  it('adds no close() to a target without one', () => {
    const inner: Handler = { description: 'target', handle() {} };
    expect(wrapTarget(inner, route, deps).close).toBeUndefined();
  });
});
