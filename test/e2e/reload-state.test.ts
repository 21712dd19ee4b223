import { writeFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { httpRequest, startGateway, startUpstream, type TestGateway, type TestUpstream } from '../helpers.js';

/** A reload keeps the live state of upstreams whose config did not change, and only theirs. */
describe('reload keeps upstream state', () => {
  let up: TestUpstream;
  let gw: TestGateway;
  const config = (extraRoute: string, otherTimeout = '1s', keptPolicies = '[]') => `version: 1
listeners: [ { name: public, port: 0, host: 127.0.0.1 } ]
upstreams:
  kept:
    targets: [ "${'$'}{LIVE}", "http://127.0.0.1:1" ]
    outlierDetection: { consecutiveErrors: 1, baseEjection: 1m }
    retries: { attempts: 2 }
    circuitBreaker: { failureRatio: 0.5, minRequests: 100, window: 10s, openFor: 15s }
    policies: ${keptPolicies}
  changed:
    targets: [ "${'$'}{LIVE}", "http://127.0.0.1:1" ]
    outlierDetection: { consecutiveErrors: 1, baseEjection: 1m }
    retries: { attempts: 2 }
    timeouts: { connect: ${otherTimeout} }
routes:
  - { name: kept, match: { path: /kept/* }, upstream: kept }
  - { name: changed, match: { path: /changed/* }, upstream: changed }
${extraRoute}`;

  beforeAll(async () => {
    up = await startUpstream();
    process.env.LIVE = up.url;
    gw = await startGateway(config(''));
  });
  afterAll(async () => {
    await gw?.close();
    await up?.close();
    delete process.env.LIVE;
  });

  const deadTarget = (name: string) => {
    const u = gw.gw.runtime.upstreams.get(name)!;
    return u.status().targets.find((t) => t.url === 'http://127.0.0.1:1')!;
  };

  it('ejections, the upstream object and its pools survive a reload that does not touch the upstream', async () => {
    // Round-robin sends one of the first two requests to the dead target: it fails over and gets ejected.
    for (const p of ['/kept/a', '/kept/b', '/changed/a', '/changed/b']) expect((await httpRequest(gw.url + p)).status).toBe(200);
    expect(deadTarget('kept').healthy).toBe(false);
    expect(deadTarget('changed').healthy).toBe(false);
    const kept = gw.gw.runtime.upstreams.get('kept');
    const changed = gw.gw.runtime.upstreams.get('changed');

    writeFileSync(gw.file, config('  - { name: extra, match: { path: /extra }, static: { status: 200 } }\n', '2s'));
    expect((await gw.gw.reload()).ok).toBe(true);
    expect(gw.gw.runtime.upstreams.get('kept')).toBe(kept);
    expect(deadTarget('kept').healthy).toBe(false);
    // A changed upstream is rebuilt: fresh state.
    expect(gw.gw.runtime.upstreams.get('changed')).not.toBe(changed);
    expect(deadTarget('changed').healthy).toBe(true);
    // The kept upstream still serves (from the live target only).
    for (let i = 0; i < 4; i++) expect((await httpRequest(gw.url + '/kept/x')).status).toBe(200);
  });

  it("changing only an upstream's policies keeps the upstream, its ejections and pools; the new policies apply", async () => {
    const kept = gw.gw.runtime.upstreams.get('kept');
    expect(deadTarget('kept').healthy).toBe(false);
    writeFileSync(gw.file, config('', '2s', '[ { headers: { request: { set: { x-upstream-policy: v2 } } } } ]'));
    expect((await gw.gw.reload()).ok).toBe(true);
    expect(gw.gw.runtime.upstreams.get('kept')).toBe(kept);
    expect(deadTarget('kept').healthy).toBe(false);
    expect((await httpRequest(gw.url + '/kept/y')).status).toBe(200);
    expect(up.seen.at(-1)!.headers['x-upstream-policy']).toBe('v2');
  });
});
