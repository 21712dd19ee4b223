import type { RequestContext } from './context.js';
import type { CompiledRoute } from '../routing/route.js';
import { composePipeline, type Pipeline, type PolicyInstance } from './pipeline.js';

/**
 * Consumer policies (`consumers[].policies`): a consumer's own policies join a request's
 * pipeline once a policy has identified the consumer (api-key, jwt, basic-auth, mtls …),
 * right after that policy, and stay for its response and log phases.
 *
 * Which consumer a request belongs to is known only while the request phase runs, so the
 * joined pipeline cannot be fixed per route at load. It is composed on first use for each
 * (route, consumer, position) and kept: the request then continues on a copy of its route
 * whose pipeline has the consumer's hooks in place (`ctx.route` is replaced, the way
 * subrequests swap pipelines), so the response and log phases need no check of their own.
 * Routes of a config where no consumer has policies carry no `consumers` field and pay
 * nothing.
 *
 * @example
 *   consumers:
 *     - id: batch-jobs
 *       apiKeys: [ "sha256:…" ]
 *       policies:
 *         - rate-limit: { limit: 10, window: 1s }   # this consumer only, on every route
 */
export class ConsumerPolicies {
  /** Policy instances by consumer id (built once per config version, shared by all routes). */
  readonly #byConsumer: ReadonlyMap<string, readonly PolicyInstance[]>;

  constructor(byConsumer: ReadonlyMap<string, readonly PolicyInstance[]>) {
    this.#byConsumer = byConsumer;
  }

  get size(): number {
    return this.#byConsumer.size;
  }

  /** The policy names of a consumer (explain, status). */
  namesOf(id: string): readonly string[] {
    return (this.#byConsumer.get(id) ?? []).map((p) => p.name);
  }

  /** Builds the pipeline of one route, remembering its instances so consumers can join it. */
  compose(instances: readonly PolicyInstance[]): Pipeline {
    const base = composePipeline(instances);
    if (this.#byConsumer.size === 0) return base;
    return { ...base, consumers: new RouteJoins(this.#byConsumer, instances) };
  }
}

/** One route's joined pipelines, composed on first use. */
export class RouteJoins {
  readonly #byConsumer: ReadonlyMap<string, readonly PolicyInstance[]>;
  readonly #instances: readonly PolicyInstance[];
  /** For each request hook of the route, the index of its instance. */
  readonly #requestInstance: readonly number[];
  readonly #routes = new Map<string, CompiledRoute>();

  constructor(byConsumer: ReadonlyMap<string, readonly PolicyInstance[]>, instances: readonly PolicyInstance[]) {
    this.#byConsumer = byConsumer;
    this.#instances = instances;
    const idx: number[] = [];
    instances.forEach((p, i) => {
      if (p.hooks.request !== undefined) idx.push(i);
    });
    this.#requestInstance = idx;
  }

  /**
   * Replaces `ctx.route` with the route joined by the request's consumer, after the first
   * `ran` request hooks of the route. The joined route has no `consumers` field: a request
   * joins at most once.
   */
  join(ctx: RequestContext, ran: number): void {
    const route = ctx.route!;
    const id = ctx.consumer!.id;
    const own = this.#byConsumer.get(id);
    // A consumer without policies still leaves this pipeline, so later hooks skip the check.
    const key = own === undefined ? '' : `${ran}\u0000${id}`;
    let joined = this.#routes.get(key);
    if (joined === undefined) {
      const at = ran === 0 ? 0 : this.#requestInstance[ran - 1]! + 1;
      const list = own === undefined ? this.#instances : [...this.#instances.slice(0, at), ...own, ...this.#instances.slice(at)];
      joined = { ...route, pipeline: composePipeline(list) };
      this.#routes.set(key, joined);
    }
    ctx.route = joined;
  }
}
