import { Buffer } from 'node:buffer';
import type { RouteConfig } from '../../config/schema.js';
import type { RequestContext } from '../../pipeline/context.js';
import { GatewayError, problemFor, PROBLEM_CONTENT_TYPE, type GatewayErrorCode } from '../../errors.js';
import { isJsonType, type HeaderList } from '../../http/headers.js';
import { readRequestBody } from '../../pipeline/body.js';
import { respondError, respondReply } from '../../pipeline/respond.js';
import { bodyView, type BodyView } from '../body-view.js';
import type { Handler } from '../handler.js';
import { parseBatch, type BatchItem } from './items.js';
import { SyntheticRequest } from './synthetic.js';
import { CaptureResponse } from '../../pipeline/subrequest.js';

/** Forwarding fields every sub-request takes from the batch request (see RESERVED_HEADERS). */
const FORWARDING = new Set(['x-forwarded-for', 'x-forwarded-proto', 'x-forwarded-host', 'x-forwarded-port', 'forwarded']);

/** One entry of the batch response. */
interface ItemResult extends BodyView {
  status: number;
  headers: Record<string, string | string[]>;
}

/**
 * `batch:`: a POST whose JSON body is an array of sub-requests
 * `[{ method, path, headers?, body? }, …]`; each runs through the gateway's own data path
 * in this process, as if it had arrived on the batch request's listener
 * (`ListenerInfo.dispatch`, no socket, no loopback): routing, that route's policies (auth,
 * rate limits, …), its handler, access log and metrics. The answer is 200 with a JSON array
 * of `{ status, headers, encoding, body }` in request order; a sub-request that fails
 * (401, 429, 502 …) is just its item. At most `concurrency` run at once.
 *
 * Sub-requests carry the batch request's Host, forwarding headers and connection (client
 * address, TLS), and its `inheritHeaders` (credentials) unless they set those themselves.
 * A sub-request that reaches a batch route is refused (GW_ERR_BATCH_NESTED): batches do
 * not nest. The client going away cancels the sub-requests in flight.
 *
 * @example
 *   - name: batch
 *     match: { path: /batch, methods: [POST] }
 *     batch: { maxRequests: 20, concurrency: 5 }
 */
export function createBatchHandler(route: RouteConfig): Handler {
  const cfg = route.batch!;
  const inherit = new Set(cfg.inheritHeaders.map((h) => h.toLowerCase()));

  const run = (ctx: RequestContext, items: BatchItem[]) => {
    const dispatch = ctx.listener.dispatch!;
    const n = items.length;
    const results: ItemResult[] = new Array(n);
    const live = new Set<CaptureResponse>();
    let next = 0;
    let active = 0;
    let left = n;
    let cancelled = false;
    ctx.cancelable = {
      cancel: () => {
        cancelled = true;
        for (const r of live) r.destroy();
      },
    };
    const finish = () => {
      if (cancelled || ctx.aborted) return;
      const body = Buffer.from(JSON.stringify(results));
      respondReply(ctx, { status: 200, headers: ['content-type', 'application/json', 'cache-control', 'no-store', 'content-length', String(body.length)], body });
    };
    const launch = () => {
      while (active < cfg.concurrency && next < n && !cancelled) {
        const i = next++;
        active++;
        const item = items[i]!;
        const req = new SyntheticRequest(ctx.req, item.method, item.path, headersFor(ctx, item, inherit), item.body);
        const res = new CaptureResponse(cfg.maxResponseSize);
        live.add(res);
        // A body over the limit errors the capture; its 'close' below reports it.
        res.on('error', () => {});
        res.once('close', () => {
          live.delete(res);
          results[i] = resultOf(res, cfg.maxResponseSize);
          active--;
          if (--left === 0) finish();
          else launch();
        });
        try {
          dispatch(req as never, res as never);
        } catch (e) {
          res.destroy(e as Error);
        }
      }
    };
    if (n === 0) finish();
    else launch();
  };

  return {
    description: `batch (max ${cfg.maxRequests}, ${cfg.concurrency} at once)`,
    handle: function batch(ctx) {
      if (ctx.req instanceof SyntheticRequest) {
        respondError(ctx, 'GW_ERR_BATCH_NESTED', 'A sub-request of a batch cannot itself be a batch.');
        return;
      }
      if (ctx.method !== 'POST') {
        respondError(ctx, 'GW_ERR_METHOD_NOT_ALLOWED', 'A batch is sent with POST.', ['allow', 'POST']);
        return;
      }
      if (ctx.listener.dispatch === undefined) {
        respondError(ctx, 'GW_ERR_NOT_IMPLEMENTED', 'This listener cannot run batch sub-requests.');
        return;
      }
      if (!isJsonType(ctx.req.headers['content-type'])) {
        respondError(ctx, 'GW_ERR_BATCH_INVALID', 'The batch body must be sent as application/json.');
        return;
      }
      readRequestBody(ctx, cfg.maxBodySize)
        .then((raw) => {
          if (ctx.aborted) return;
          run(ctx, parseBatch(raw, cfg.maxRequests));
        })
        .catch((e: unknown) => {
          if (ctx.aborted) return;
          if (e instanceof GatewayError) respondError(ctx, e.code, e.message);
          else respondError(ctx, 'GW_ERR_BAD_REQUEST', 'The batch body could not be read.');
        });
    },
  };
}

/** The raw header list of a sub-request: Host and forwarding fields from the batch, inherited credentials, then its own. */
function headersFor(ctx: RequestContext, item: BatchItem, inherit: ReadonlySet<string>): string[] {
  const own = new Set(item.headers.map(([k]) => k.toLowerCase()));
  const out: string[] = [];
  const host = ctx.req.headers.host;
  if (host !== undefined) out.push('host', host);
  const raw = ctx.req.rawHeaders;
  for (let i = 0; i < raw.length; i += 2) {
    const k = raw[i]!.toLowerCase();
    if (FORWARDING.has(k) || (inherit.has(k) && !own.has(k))) out.push(raw[i]!, raw[i + 1]!);
  }
  for (const [k, v] of item.headers) out.push(k, v);
  if (item.body !== undefined) {
    if (item.bodyType !== undefined) out.push('content-type', item.bodyType);
    out.push('content-length', String(item.body.length));
  }
  return out;
}

/** A finished sub-response as its batch item; one cut off (too large, upstream failed mid-body) as a problem item. */
function resultOf(res: CaptureResponse, limit: number): ItemResult {
  if (!res.writableFinished || !res.headersSent) {
    return res.overflowed
      ? problemItem('GW_ERR_BATCH_RESPONSE_TOO_LARGE', `The sub-response body is larger than ${limit} bytes.`)
      : problemItem('GW_ERR_UPSTREAM_RESET', 'The sub-response was cut off.');
  }
  const headers = foldResponseHeaders(res.head);
  const type = headers['content-type'];
  const coding = headers['content-encoding'];
  return { status: res.statusCode, headers, ...bodyView(typeof type === 'string' ? type : undefined, typeof coding === 'string' ? coding : undefined, res.body()) };
}

function problemItem(code: GatewayErrorCode, detail: string): ItemResult {
  const p = problemFor(code, detail);
  return { status: p.status, headers: { 'content-type': PROBLEM_CONTENT_TYPE }, encoding: 'json', body: p };
}

/** Response headers as an object: lower-case names, repeated fields joined by commas, Set-Cookie a list (RFC 9110 §5.3). */
function foldResponseHeaders(list: HeaderList): Record<string, string | string[]> {
  const out: Record<string, string | string[]> = {};
  for (let i = 0; i < list.length; i += 2) {
    const k = list[i]!.toLowerCase();
    const v = list[i + 1]!;
    const cur = out[k];
    if (k === 'set-cookie') out[k] = cur === undefined ? [v] : [...(cur as string[]), v];
    else out[k] = cur === undefined ? v : `${cur as string}, ${v}`;
  }
  return out;
}
