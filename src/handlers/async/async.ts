import { Buffer } from 'node:buffer';
import { randomUUID } from 'node:crypto';
import { performance } from 'node:perf_hooks';
import type { RouteConfig } from '../../config/schema.js';
import type { RequestContext } from '../../pipeline/context.js';
import { GatewayError, type GatewayErrorCode } from '../../errors.js';
import { hasRequestBody, type HeaderList } from '../../http/headers.js';
import { readRequestBody } from '../../pipeline/body.js';
import { respondError, respondReply } from '../../pipeline/respond.js';
import { subrequest, SubrequestTooLarge, type CapturedResponse } from '../../pipeline/subrequest.js';
import { holdWork } from '../../pipeline/work.js';
import { isThenable } from '../../pipeline/pipeline.js';
import { failurePhrase } from '../../proxy/forward.js';
import { logGate } from '../../observability/logger.js';
import { metrics, type AsyncJobEnd, type AsyncJobSeries } from '../../observability/metrics.js';
import type { Store } from '../../store/store.js';
import type { Handler, HandlerDeps } from '../handler.js';
import { compileUpstreamCall, subcallConfig } from '../proxy/proxy.js';
import { encodeJob, jobKey, type JobMeta } from './record.js';
import { createJobStatusHandler, jobDocument } from './status.js';

/** Reasons a job's exchange is stopped by the gateway itself (the subrequest rejects with them). */
class JobTimeout extends Error {}
const SHUTDOWN = new Error('the gateway shut down');

/** Store write failures log at most once a second per route. */
const writeLogGate = logGate(1000);

/** A job's end: its final state and result body, and how it ended (metrics). */
interface Outcome {
  meta: JobMeta;
  body?: Buffer;
  end: AsyncJobEnd;
}

/**
 * `async:`: answers `202 Accepted` at once with `Location: <jobsPath>/<id>` and
 * `{ id, status: "pending", href }` (RFC 9110 §15.3.3), then forwards the request to the
 * upstream in the background, through the same upstream call as `upstream:` routes
 * (balancer, retries, breaker, pool; compiled once here), as a subrequest
 * (pipeline/subrequest.ts) with the request body buffered up to `maxBodySize`. The job's
 * state and result (status, `resultHeaders`, body up to `maxResultSize`) live in the
 * store under `job:<route>:<id>` for `ttl`, so with `store: redis` any instance answers
 * `GET <jobsPath>/<id>` (handlers/async/status.ts).
 *
 * A job runs on when its client leaves. It counts as the gateway's background work: a
 * drain waits for it up to `server.drainTimeout`, then records it `failed`
 * (GW_ERR_SHUTTING_DOWN) and stops its exchange. At most `maxPending` jobs of the route
 * run at once in this process; one more is refused with 503 and Retry-After.
 *
 * @example
 *   - name: reports
 *     match: { path: /reports, methods: [POST] }
 *     async: { upstream: reporting, jobsPath: /jobs, ttl: 1h }
 */
export function createAsyncHandler(route: RouteConfig, deps: HandlerDeps): Handler {
  const cfg = route.async!;
  const upstream = deps.upstreams.get(cfg.upstream);
  if (!upstream) throw new Error(`async: unknown upstream '${cfg.upstream}'`);
  const { async: _omit, ...rest } = route;
  const config: RouteConfig = { ...rest, upstream: cfg.upstream, policies: [] };
  const target: Handler = { description: `upstream ${cfg.upstream}`, handle: compileUpstreamCall(config, upstream, deps) };
  const keep = new Set(cfg.resultHeaders.map((h) => h.toLowerCase()));
  keep.delete('content-length');
  const store = deps.store;
  const ttl = cfg.ttl;
  // A pending or running job is kept until it can no longer be running (its timeout) plus
  // ttl, so a short ttl never drops a job that is still in flight.
  const liveTtl = cfg.timeout + ttl;
  // gantry_async_* series of this route (observability/metrics.ts), resolved once.
  const jobs = metrics.asyncJobSeries(route.name);
  const notify = compileCallback(route, deps, jobs);
  let pending = 0;

  /** Writes a job's state; resolves once stored (failures are logged: the record keeps its last state until it expires). */
  const write = (ctx: RequestContext, key: string, meta: JobMeta, body?: Buffer): Promise<void> => {
    let r;
    try {
      r = store.set(key, encodeJob(meta, body), meta.status === 'done' || meta.status === 'failed' ? ttl : liveTtl);
    } catch (e) {
      r = Promise.reject(e);
    }
    if (!isThenable(r)) return Promise.resolve();
    return r.then(undefined, (e: unknown) => {
      const suppressed = writeLogGate(route.name);
      if (suppressed >= 0) ctx.logger.warn({ err: e, route: route.name, job: meta.id, status: meta.status, suppressed }, 'async job state could not be stored');
    });
  };

  const outcomeOf = (meta: JobMeta, res: CapturedResponse): Outcome => {
    const now = Date.now();
    if (res.errorCode !== undefined) {
      const code = res.errorCode as GatewayErrorCode;
      const end = code === 'GW_ERR_UPSTREAM_TIMEOUT' || code === 'GW_ERR_DEADLINE_EXCEEDED' ? 'timed_out' : 'failed';
      return { meta: { ...meta, status: 'failed', updatedAt: now, error: { code, detail: `Upstream '${cfg.upstream}' ${failurePhrase(code)}.` } }, end };
    }
    const headers: [string, string][] = [];
    for (let i = 0; i < res.headers.length; i += 2) {
      const k = res.headers[i]!.toLowerCase();
      if (keep.has(k)) headers.push([k, res.headers[i + 1]!]);
    }
    return { meta: { ...meta, status: 'done', updatedAt: now, result: { status: res.status, headers } }, body: res.body, end: 'succeeded' };
  };

  const failureOf = (meta: JobMeta, err: Error): Outcome => {
    const fail = (code: GatewayErrorCode, detail: string, end: AsyncJobEnd): Outcome => ({ meta: { ...meta, status: 'failed', updatedAt: Date.now(), error: { code, detail } }, end });
    if (err instanceof JobTimeout) return fail('GW_ERR_UPSTREAM_TIMEOUT', `Upstream '${cfg.upstream}' did not answer within ${cfg.timeout}ms.`, 'timed_out');
    if (err instanceof SubrequestTooLarge) return fail('GW_ERR_JOB_RESULT_TOO_LARGE', `The upstream's response body is larger than ${cfg.maxResultSize} bytes.`, 'too_large');
    return fail('GW_ERR_UPSTREAM_RESET', `The exchange with upstream '${cfg.upstream}' was cut off.`, 'failed');
  };

  /** Sends the job upstream and records how it ended. */
  const run = (ctx: RequestContext, key: string, meta: JobMeta, body: Buffer | undefined) => {
    const ac = new AbortController();
    const started = performance.now();
    let over = false;
    const timer = setTimeout(() => ac.abort(new JobTimeout()), cfg.timeout);
    timer.unref();
    // Counted as background work: a drain waits for the job, then (deadline passed) this records it failed.
    const release = holdWork(ctx, () => {
      if (over) return;
      over = true;
      clearTimeout(timer);
      pending--;
      jobs.pending.dec();
      jobs.ended('shutdown', (performance.now() - started) / 1000);
      // Issued before the store closes (a Redis QUIT answers queued commands first).
      void write(ctx, key, { ...meta, status: 'failed', updatedAt: Date.now(), error: { code: 'GW_ERR_SHUTTING_DOWN', detail: 'The gateway shut down before the upstream answered.' } });
      ac.abort(SHUTDOWN);
    });
    void write(ctx, key, { ...meta, status: 'running', updatedAt: Date.now() });
    subrequest(ctx, ctx.upstreamHeaders.slice(), cfg.maxResultSize, {
      part: { handler: target, config, method: ctx.method, query: ctx.query, ...(body !== undefined ? { body } : {}) },
      signal: ac.signal,
    })
      .then(
        (res) => outcomeOf(meta, res),
        (err: Error) => failureOf(meta, err),
      )
      .then((out) => {
        if (over) return;
        over = true;
        clearTimeout(timer);
        jobs.ended(out.end, (performance.now() - started) / 1000);
        void write(ctx, key, out.meta, out.body)
          .then(() => {
            pending--;
            jobs.pending.dec();
            return notify?.(ctx, out.meta, out.body);
          })
          .finally(release);
      });
  };

  const accept = async (ctx: RequestContext) => {
    let body: Buffer | undefined;
    if (hasRequestBody(ctx.req.headers)) body = await readRequestBody(ctx, cfg.maxBodySize);
    if (ctx.aborted) throw SHUTDOWN;
    const id = randomUUID();
    const now = Date.now();
    const meta: JobMeta = { id, status: 'pending', owner: ctx.consumer?.id ?? null, createdAt: now, updatedAt: now };
    const key = jobKey(route.name, id);
    try {
      await store.set(key, encodeJob(meta), liveTtl);
    } catch (e) {
      throw new GatewayError('GW_ERR_STORE_UNAVAILABLE', 'The job could not be stored; try again later.', { cause: e });
    }
    // A client gone before its 202 never learns the id: no job.
    if (ctx.aborted) {
      void Promise.resolve(store.delete(key)).catch(() => {});
      throw SHUTDOWN;
    }
    jobs.count('accepted');
    run(ctx, key, meta, body);
    const href = `${cfg.jobsPath}/${id}`;
    const text = Buffer.from(JSON.stringify({ id, status: 'pending', href }));
    const headers: HeaderList = ['content-type', 'application/json', 'location', href, 'cache-control', 'no-store', 'content-length', String(text.length)];
    respondReply(ctx, { status: 202, headers, body: text });
  };

  const handle = function asyncJob(ctx: RequestContext): void {
    if (pending >= cfg.maxPending) {
      jobs.count('rejected_full');
      respondError(ctx, 'GW_ERR_JOB_QUEUE_FULL', `Route '${route.name}' has ${cfg.maxPending} jobs pending; try again later.`, ['retry-after', '1']);
      return;
    }
    pending++;
    jobs.pending.inc();
    accept(ctx).catch((e: unknown) => {
      pending--;
      jobs.pending.dec();
      if (ctx.aborted || e === SHUTDOWN) {
        jobs.count('abandoned');
        return;
      }
      jobs.count('rejected');
      if (e instanceof GatewayError) respondError(ctx, e.code, e.message);
      else {
        ctx.logger.error({ err: e, requestId: ctx.id, route: route.name }, 'async job could not be accepted');
        respondError(ctx, 'GW_ERR_INTERNAL', 'The job could not be accepted.');
      }
    });
  };

  const status = createJobStatusHandler(route.name, store, cfg.jobsPath);
  const m = route.match;
  return {
    description: `async ${cfg.upstream} (jobs at ${cfg.jobsPath})`,
    handle,
    routes: [{ match: { path: `${cfg.jobsPath}/:id`, methods: ['GET'], ...(m.host !== undefined ? { host: m.host } : {}) }, handler: status }],
  };
}

/** Calls back `async.callback` with a finished job; resolves once the exchange ended (failures are logged). */
type Notify = (ctx: RequestContext, meta: JobMeta, body: Buffer | undefined) => Promise<void>;

const EMPTY = Buffer.alloc(0);
/** Callback failures log at most once a second per route. */
const callbackLogGate = logGate(1000);

/**
 * The `callback:` webhook, compiled once: a POST of the job document (plus `consumer`, the
 * job's owner) to the callback upstream's path, through the same upstream call as any
 * route, bounded by its `timeout`. Undefined when the route has no callback.
 */
function compileCallback(route: RouteConfig, deps: HandlerDeps, jobs: AsyncJobSeries): Notify | undefined {
  const cb = route.async!.callback;
  if (cb === undefined) return undefined;
  const upstream = deps.upstreams.get(cb.upstream);
  if (!upstream) throw new Error(`async.callback: unknown upstream '${cb.upstream}'`);
  const config = subcallConfig(route, cb.upstream, { rewrite: { path: cb.path } });
  const handler: Handler = { description: `upstream ${cb.upstream}`, handle: compileUpstreamCall(config, upstream, deps) };
  const jobsPath = route.async!.jobsPath;
  const failed = (ctx: RequestContext, meta: JobMeta, detail: string, outcome: 'failed' | 'skipped' = 'failed') => {
    jobs.callback(outcome);
    const suppressed = callbackLogGate(route.name);
    if (suppressed >= 0) ctx.logger.warn({ route: route.name, job: meta.id, upstream: cb.upstream, detail, suppressed }, 'async job callback failed');
  };
  return (ctx, meta, body) => {
    if (ctx.aborted) {
      failed(ctx, meta, 'the client left before its 202 was sent; not called back', 'skipped');
      return Promise.resolve();
    }
    const doc = Buffer.from(JSON.stringify({ ...jobDocument({ meta, body: body ?? EMPTY }, jobsPath), consumer: meta.owner }));
    const ac = new AbortController();
    const timer = setTimeout(() => ac.abort(new Error(`no answer within ${cb.timeout}ms`)), cb.timeout);
    timer.unref();
    return subrequest(ctx, ['content-type', 'application/json', 'accept', 'application/json'], 65_536, {
      part: { handler, config, method: 'POST', query: '', body: doc },
      signal: ac.signal,
    })
      .then(
        (res) => {
          if (res.errorCode !== undefined) failed(ctx, meta, `upstream '${cb.upstream}' ${failurePhrase(res.errorCode as GatewayErrorCode)}`);
          else if (res.status < 200 || res.status > 299) failed(ctx, meta, `upstream answered ${res.status}`);
          else jobs.callback('delivered');
        },
        (err: Error) => failed(ctx, meta, err.message),
      )
      .finally(() => clearTimeout(timer));
  };
}
