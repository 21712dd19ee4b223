import type { RequestContext } from '../../pipeline/context.js';
import { consumerView } from '../auth/authz.js';

/**
 * The attributes an `abac` rule can read, as one object per request. Cheap fields are
 * plain properties; the query, time and consumer views are getters computed on first use,
 * so a rule pays only for what it reads.
 *
 * | var | value |
 * |---|---|
 * | `method`, `path`, `ip`, `route` | strings |
 * | `params.<name>` | route parameters |
 * | `headers.<lower-case name>` | request headers as received |
 * | `query.<name>` | first value of a query parameter |
 * | `time.epoch`, `time.hour`, `time.minute`, `time.weekday` | now, UTC (weekday 0 = Sunday) |
 * | `consumer.id`, `.tenant`, `.tier`, `.scopes`, `.anonymous` | the authenticated consumer (null when none) |
 * | `claims.<name>` | verified token claims (`{}` when none) |
 */
export class AbacInput {
  readonly method: string;
  readonly path: string;
  readonly ip: string;
  readonly route: string;
  readonly params: Readonly<Record<string, string | undefined>>;
  readonly headers: Readonly<Record<string, string | string[] | undefined>>;
  readonly #ctx: RequestContext;
  #query: Record<string, string> | undefined;
  #consumer: Record<string, unknown> | null | undefined;

  constructor(ctx: RequestContext) {
    this.#ctx = ctx;
    this.method = ctx.method;
    this.path = ctx.path;
    this.ip = ctx.clientIp;
    this.route = ctx.route?.name ?? '';
    this.params = ctx.params;
    this.headers = ctx.req.headers;
  }

  get query(): Record<string, string> {
    if (this.#query === undefined) {
      this.#query = {};
      for (const [k, v] of new URLSearchParams(this.#ctx.query)) if (!(k in this.#query)) this.#query[k] = v;
    }
    return this.#query;
  }

  get time(): { epoch: number; hour: number; minute: number; weekday: number } {
    const d = new Date();
    return { epoch: Math.floor(d.getTime() / 1000), hour: d.getUTCHours(), minute: d.getUTCMinutes(), weekday: d.getUTCDay() };
  }

  get consumer(): Record<string, unknown> | null {
    if (this.#consumer === undefined) this.#consumer = consumerView(this.#ctx);
    return this.#consumer;
  }

  get claims(): Readonly<Record<string, unknown>> {
    return this.#ctx.consumer?.claims ?? EMPTY;
  }
}

const EMPTY = Object.freeze({});
