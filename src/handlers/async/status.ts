import { Buffer } from 'node:buffer';
import type { RequestContext } from '../../pipeline/context.js';
import { GatewayErrors, type GatewayErrorCode } from '../../errors.js';
import type { HeaderList } from '../../http/headers.js';
import { bodyView } from '../body-view.js';
import { problemReply, respondError, respondReply } from '../../pipeline/respond.js';
import { isThenable } from '../../pipeline/pipeline.js';
import type { Store } from '../../store/store.js';
import type { Handler } from '../handler.js';
import { decodeJob, jobKey, type JobRecord } from './record.js';

/** `crypto.randomUUID()` ids; anything else cannot name a job and is not looked up. */
const JOB_ID = /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;

/**
 * `GET <jobsPath>/<id>` of an `async:` route: the job as JSON, or with `?result=raw` the
 * upstream's response replayed. Runs behind the route's own policies; a job created by
 * another consumer (or by an authenticated one, asked anonymously) is 404 like an unknown
 * one, so ids cannot be probed across consumers.
 *
 * Envelope (200, `Cache-Control: no-store`):
 *   `{ id, status, href, createdAt, updatedAt, result?: { status, headers, encoding, body }, error?: { code, detail } }`
 * `encoding` is `json` (body is the parsed JSON value), `utf8` (a string) or `base64`.
 * Raw: done → the stored status, kept headers and body; failed → the problem the gateway
 * would have answered at once (502/504 …); pending/running → 409 with Retry-After.
 *
 * @example
 *   const status = createJobStatusHandler('reports', store, '/jobs');
 */
export function createJobStatusHandler(route: string, store: Store, jobsPath: string): Handler {
  const answer = (ctx: RequestContext, raw: Buffer | undefined, mode: 'json' | 'raw') => {
    if (ctx.aborted) return;
    const rec = decodeJob(raw);
    if (rec === undefined || rec.meta.owner !== (ctx.consumer?.id ?? null)) {
      respondError(ctx, 'GW_ERR_JOB_NOT_FOUND', 'No job with this id (it may have expired).');
      return;
    }
    if (mode === 'raw') replay(ctx, rec);
    else envelope(ctx, rec, jobsPath);
  };
  return {
    description: `async jobs of ${route}`,
    handle: function jobStatus(ctx) {
      const id = ctx.params.id;
      const mode = resultMode(ctx.query);
      if (mode === undefined) {
        respondError(ctx, 'GW_ERR_BAD_REQUEST', 'The result parameter takes "raw" or "json".');
        return;
      }
      if (id === undefined || !JOB_ID.test(id)) {
        respondError(ctx, 'GW_ERR_JOB_NOT_FOUND', 'No job with this id (it may have expired).');
        return;
      }
      let got;
      try {
        got = store.get(jobKey(route, id));
      } catch (e) {
        got = Promise.reject(e);
      }
      if (!isThenable(got)) return answer(ctx, got, mode);
      got.then(
        (v) => answer(ctx, v, mode),
        () => {
          if (!ctx.aborted) respondError(ctx, 'GW_ERR_STORE_UNAVAILABLE', 'The job store cannot be read now; try again later.', ['retry-after', '1']);
        },
      );
    },
  };
}

/** `?result=raw` → raw, none or `json` → json, anything else undefined. */
function resultMode(query: string): 'json' | 'raw' | undefined {
  if (query === '') return 'json';
  const v = new URLSearchParams(query).get('result');
  if (v === null || v === 'json') return 'json';
  return v === 'raw' ? 'raw' : undefined;
}

function envelope(ctx: RequestContext, rec: JobRecord, jobsPath: string): void {
  const m = rec.meta;
  const headers: HeaderList = ['content-type', 'application/json', 'cache-control', 'no-store'];
  if (m.status === 'pending' || m.status === 'running') headers.push('retry-after', '1');
  respondReply(ctx, { status: 200, headers, body: Buffer.from(JSON.stringify(jobDocument(rec, jobsPath))) });
}

/**
 * A job as JSON: what `GET <jobsPath>/<id>` answers and what a `callback` receives.
 *
 * @example
 *   jobDocument(decodeJob(raw)!, '/jobs'); // { id, status: 'done', href: '/jobs/…', result: { status, headers, encoding, body }, … }
 */
export function jobDocument(rec: JobRecord, jobsPath: string): Record<string, unknown> {
  const m = rec.meta;
  const out: Record<string, unknown> = {
    id: m.id,
    status: m.status,
    href: `${jobsPath}/${m.id}`,
    createdAt: new Date(m.createdAt).toISOString(),
    updatedAt: new Date(m.updatedAt).toISOString(),
  };
  if (m.status === 'done' && m.result !== undefined) {
    const headers: Record<string, string> = {};
    for (const [k, v] of m.result.headers) headers[k] = headers[k] === undefined ? v : `${headers[k]}, ${v}`;
    out.result = { status: m.result.status, headers, ...bodyView(headers['content-type'], headers['content-encoding'], rec.body) };
  }
  if (m.status === 'failed' && m.error !== undefined) out.error = m.error;
  return out;
}

function replay(ctx: RequestContext, rec: JobRecord): void {
  const m = rec.meta;
  if (m.status === 'done' && m.result !== undefined) {
    const headers: HeaderList = [];
    for (const [k, v] of m.result.headers) headers.push(k, v);
    headers.push('content-length', String(rec.body.length));
    respondReply(ctx, { status: m.result.status, headers, body: rec.body });
    return;
  }
  if (m.status === 'failed' && m.error !== undefined) {
    const code = (Object.hasOwn(GatewayErrors, m.error.code) ? m.error.code : 'GW_ERR_UPSTREAM_UNAVAILABLE') as GatewayErrorCode;
    respondReply(ctx, problemReply(ctx, code, m.error.detail));
    return;
  }
  respondError(ctx, 'GW_ERR_JOB_NOT_DONE', `Job ${m.id} is ${m.status}; its result is not there yet.`, ['retry-after', '1']);
}
