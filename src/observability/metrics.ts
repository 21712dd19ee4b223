import { Gauge, Registry, collectDefaultMetrics } from 'prom-client';
import { CounterFamily, GaugeFamily, HistogramFamily, type CounterSeries, type GaugeSeries, type HistogramSeries } from './series.js';

/** How often the event-loop delay histogram behind `nodejs_eventloop_lag_*` samples (ms). */
export const EVENT_LOOP_SAMPLE_MS = 100;

/**
 * Gantry's Prometheus metrics: one registry per process, served by the admin listener at
 * `GET /metrics`. Every data-path event is one named call below, so policies and
 * interceptors record what they know without touching prom-client themselves.
 *
 * Labels are config names (route, upstream, listener, policy) and small closed sets
 * (method, status class, outcome): never raw paths, so cardinality is bounded by the config.
 * Series of routes, upstreams and targets a reload removes are dropped (`forgetRoutes`,
 * `forgetUpstream`, `forgetTargets`).
 *
 * @example
 *   import { metrics } from '../observability/metrics.js';
 *   metrics.cacheResult('products', 'hit');
 *   metrics.rateLimitDecision('products', 'per-consumer', false);
 *   const text = await metrics.text();
 */

/** Route label value for requests no route matched (route names cannot contain parentheses). */
export const UNMATCHED_ROUTE = '(unmatched)';

/** Seconds; from sub-millisecond loopback to the default 60 s upstream timeout. */
export const LATENCY_BUCKETS = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60] as const;

/** Why an upstream attempt ended without a response (or the response's status class). */
export type UpstreamOutcome =
  | '1xx'
  | '2xx'
  | '3xx'
  | '4xx'
  | '5xx'
  | 'connect_error'
  | 'timeout'
  | 'reset'
  | 'bad_response'
  | 'aborted'
  | 'circuit_open'
  | 'deadline'
  | 'shed'
  | 'error';

export type CircuitState = 'closed' | 'open' | 'half-open';
export const CIRCUIT_STATES: readonly CircuitState[] = ['closed', 'open', 'half-open'];

/** Cache lookups: `hit` (fresh), `stale` (served stale), `revalidated` (304 from origin), `miss`, `bypass` (not cacheable). */
export type CacheResult = 'hit' | 'miss' | 'stale' | 'revalidated' | 'bypass' | 'store';

/**
 * What became of an `async:` job request: `accepted` (202 sent), refused (`rejected_full`:
 * maxPending reached, 503; `rejected`: not accepted for another reason — body too large,
 * store unavailable; `abandoned`: the client left before its 202), then how an accepted job
 * ended (`ASYNC_JOB_ENDS`).
 */
export const ASYNC_JOB_OUTCOMES = ['accepted', 'rejected_full', 'rejected', 'abandoned', 'succeeded', 'failed', 'timed_out', 'too_large', 'shutdown'] as const;
export type AsyncJobOutcome = (typeof ASYNC_JOB_OUTCOMES)[number];
/**
 * How an accepted job ended: `succeeded` (the upstream answered, any status), `failed` (no
 * answer: unreachable, reset, bad response), `timed_out` (`async.timeout`), `too_large`
 * (result over `maxResultSize`), `shutdown` (the drain deadline passed first).
 */
export const ASYNC_JOB_ENDS = ['succeeded', 'failed', 'timed_out', 'too_large', 'shutdown'] as const;
export type AsyncJobEnd = (typeof ASYNC_JOB_ENDS)[number];
/** An `async.callback` call: `delivered` (2xx), `failed` (no answer, or not 2xx), `skipped` (the client left before its 202). */
export const ASYNC_CALLBACK_OUTCOMES = ['delivered', 'failed', 'skipped'] as const;
export type AsyncCallbackOutcome = (typeof ASYNC_CALLBACK_OUTCOMES)[number];
/** Seconds; jobs run from milliseconds up to their `timeout` (5 min by default, longer when set). */
export const JOB_DURATION_BUCKETS = [0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600, 1800, 3600] as const;

/**
 * One `async:` route's job series, resolved once when its handler is built: recording is
 * a field increment, and a job that ends after a reload removed its route changes only
 * series already dropped (never brings them back).
 */
export interface AsyncJobSeries {
  /** Jobs of the route between their request and their end (stored), in this process. */
  readonly pending: GaugeSeries;
  count(outcome: AsyncJobOutcome): void;
  /** An accepted job ended `seconds` after it was accepted (also counts `outcome`). */
  ended(outcome: AsyncJobEnd, seconds: number): void;
  callback(outcome: AsyncCallbackOutcome): void;
}

const METHODS = ['GET', 'HEAD', 'POST', 'PUT', 'PATCH', 'DELETE', 'OPTIONS', 'OTHER'] as const;
const CLASSES = ['1xx', '2xx', '3xx', '4xx', '5xx', 'aborted'] as const;

function methodIndex(m: string): number {
  switch (m) {
    case 'GET':
      return 0;
    case 'HEAD':
      return 1;
    case 'POST':
      return 2;
    case 'PUT':
      return 3;
    case 'PATCH':
      return 4;
    case 'DELETE':
      return 5;
    case 'OPTIONS':
      return 6;
    default:
      return 7;
  }
}

/** `0` (no response written: the client went away first) → `aborted`; 100–599 → `Nxx`. */
function classIndex(status: number): number {
  if (status < 100 || status > 599) return 5;
  return ((status / 100) | 0) - 1;
}

/** Status class label of an HTTP status. */
export function statusClass(status: number): (typeof CLASSES)[number] {
  return CLASSES[classIndex(status)]!;
}

/** What the in-flight gauges read at scrape time: a running gateway's own counters. */
export interface InFlightSource {
  /** Client requests being served. */
  readonly inFlight: number;
  /** Background work held: subrequests, and cache revalidations until their outcome is stored. */
  readonly background: number;
}

interface RequestSlot {
  count: CounterSeries;
  duration: HistogramSeries;
}

export class GatewayMetrics {
  readonly registry = new Registry();
  readonly requests = new CounterFamily('gantry_http_requests_total', 'Requests answered, by route, method and status class.', ['route', 'method', 'status_class']);
  readonly requestDuration = new HistogramFamily(
    'gantry_http_request_duration_seconds',
    'Time from accept to the end of the response, by route, method and status class.',
    ['route', 'method', 'status_class'],
    LATENCY_BUCKETS,
  );
  readonly upstreamAttempts = new CounterFamily('gantry_upstream_attempts_total', 'Upstream attempts (each retry counts), by upstream, target and outcome.', ['upstream', 'target', 'outcome']);
  readonly upstreamDuration = new HistogramFamily(
    'gantry_upstream_attempt_duration_seconds',
    'Time from sending to an upstream until its response head (or failure).',
    ['upstream', 'target'],
    LATENCY_BUCKETS,
  );
  // Each worker checks health and keeps breakers of its own; cluster mode shows the worst (min healthy, max open).
  readonly targetHealthy = new GaugeFamily('gantry_upstream_target_healthy', '1 when the target takes traffic, 0 when health checks took it out.', ['upstream', 'target'], 'min');
  readonly circuit = new GaugeFamily('gantry_upstream_circuit_state', 'Circuit-breaker state (one series per state; the current one is 1).', ['upstream', 'target', 'state'], 'max');
  readonly cache = new CounterFamily('gantry_cache_requests_total', 'Cache lookups by route and result.', ['route', 'result']);
  readonly auth = new CounterFamily('gantry_auth_decisions_total', 'Authentication and authorization outcomes by route, policy and result.', ['route', 'policy', 'result']);
  readonly rateLimit = new CounterFamily('gantry_rate_limit_decisions_total', 'Rate-limit decisions by route, policy and decision.', ['route', 'policy', 'decision']);
  readonly storeErrors = new CounterFamily('gantry_store_errors_total', 'Errors talking to the shared store, by store kind and operation.', ['store', 'operation']);
  readonly connections = new GaugeFamily('gantry_http_active_connections', 'Open client connections by listener.', ['listener']);
  readonly proxyProtocolRefusals = new CounterFamily('gantry_proxy_protocol_refused_total', 'Connections closed on a proxyProtocol listener: untrusted peer, missing or malformed PROXY header, or none in time.', ['listener']);
  readonly http2Streams = new CounterFamily('gantry_http2_streams_total', 'HTTP/2 streams opened by clients, by listener (h2 and h2c listeners; HTTP/1.1 requests on an h2 listener are not counted).', ['listener']);
  readonly logDropped = new CounterFamily('gantry_log_lines_dropped_total', 'Log lines dropped because their output could not take them (a full disk, a reader that stopped), by output.', ['output']);
  readonly reloads = new CounterFamily('gantry_config_reloads_total', 'Config reloads by result (success or failure).', ['result']);
  // Cluster mode: a worker's config state is not additive; show the newest / worst / served.
  readonly lastReloadSuccess = new GaugeFamily('gantry_config_last_reload_success_timestamp_seconds', 'Unix time of the last successful config load.', [], 'max');
  readonly lastReloadOk = new GaugeFamily('gantry_config_last_reload_successful', '1 when the last reload attempt succeeded (every worker, in cluster mode).', [], 'min');
  readonly asyncJobs = new CounterFamily('gantry_async_jobs_total', 'async: job requests by route and outcome (accepted or why refused, then how each accepted job ended).', ['route', 'outcome']);
  readonly asyncPending = new GaugeFamily('gantry_async_jobs_pending', 'async: jobs of a route accepted (or being accepted) and not yet ended, in this process (maxPending bounds it).', ['route']);
  readonly asyncDuration = new HistogramFamily('gantry_async_job_duration_seconds', 'async: time from a job\'s acceptance to its end, by route and how it ended.', ['route', 'outcome'], JOB_DURATION_BUCKETS);
  readonly asyncCallbacks = new CounterFamily('gantry_async_callbacks_total', 'async: callback calls by route and outcome (delivered, failed, skipped).', ['route', 'outcome']);
  readonly configInfo = new GaugeFamily('gantry_config_info', 'The config being served: version counter and content hash (value is always 1).', ['version', 'hash'], 'max');
  /** upstream → target → cached attempt series (dropped with the upstream's series). */
  readonly #attempts = new Map<string, Map<string, { duration: HistogramSeries; byClass: CounterSeries[]; byOutcome: Map<string, CounterSeries> }>>();
  /** route → [method × class] slots, so a request end is two Map-free increments. */
  readonly #routes = new Map<string, (RequestSlot | undefined)[]>();
  /** Running gateways whose counters the in-flight gauges sum (one in production). */
  readonly #inFlightSources = new Set<InFlightSource>();

  constructor(options: { processMetrics?: boolean } = {}) {
    for (const f of [
      this.requests,
      this.requestDuration,
      this.upstreamAttempts,
      this.upstreamDuration,
      this.targetHealthy,
      this.circuit,
      this.cache,
      this.auth,
      this.rateLimit,
      this.storeErrors,
      this.logDropped,
      this.connections,
      this.proxyProtocolRefusals,
      this.http2Streams,
      this.asyncJobs,
      this.asyncPending,
      this.asyncDuration,
      this.asyncCallbacks,
      this.reloads,
      this.lastReloadSuccess,
      this.lastReloadOk,
      this.configInfo,
    ]) {
      this.registry.registerMetric(f as never);
    }
    // In-flight gauges are read at scrape time from counters the gateway keeps anyway
    // (`collect`), so the data path pays nothing for them.
    const sources = this.#inFlightSources;
    const sum = (name: string, help: string, read: (s: InFlightSource) => number) =>
      new Gauge({
        name,
        help,
        registers: [this.registry],
        collect() {
          let n = 0;
          for (const s of sources) n += read(s);
          this.set(n);
        },
      });
    sum('gantry_requests_in_flight', 'Client requests being served (background work not included).', (s) => s.inFlight);
    sum('gantry_background_in_flight', 'Background work running: subrequests (cache revalidation, etag fetch) and cache revalidations until stored.', (s) => s.background);
    // The event-loop delay histogram behind nodejs_eventloop_lag_* samples on a timer of its
    // own. prom-client leaves it at perf_hooks' 10 ms: an idle gateway then woke 100 times a
    // second (about 1% of a CPU doing nothing). Sampled every 100 ms, a stall of the loop
    // still shows in the max and percentiles; a short one is seen with a smaller chance.
    if (options.processMetrics !== false) collectDefaultMetrics({ register: this.registry, eventLoopMonitoringPrecision: EVENT_LOOP_SAMPLE_MS });
  }

  /**
   * Counts `source`'s requests and background work in the in-flight gauges, read at each
   * scrape, until the returned function is called.
   *
   * @example
   *   const untrack = metrics.trackInFlight(gateway);   // gateway.inFlight, gateway.background
   *   untrack();                                         // once it has stopped
   */
  trackInFlight(source: InFlightSource): () => void {
    this.#inFlightSources.add(source);
    return () => void this.#inFlightSources.delete(source);
  }

  /** A request ended (log phase). `route` undefined = no route matched. */
  requestDone(route: string | undefined, method: string, status: number, seconds: number): void {
    const name = route ?? UNMATCHED_ROUTE;
    let slots = this.#routes.get(name);
    if (slots === undefined) {
      slots = new Array<RequestSlot | undefined>(METHODS.length * CLASSES.length);
      this.#routes.set(name, slots);
    }
    const mi = methodIndex(method);
    const ci = classIndex(status);
    const i = mi * CLASSES.length + ci;
    let slot = slots[i];
    if (slot === undefined) {
      slot = { count: this.requests.series(name, METHODS[mi]!, CLASSES[ci]!), duration: this.requestDuration.series(name, METHODS[mi]!, CLASSES[ci]!) };
      slots[i] = slot;
    }
    slot.count.value++;
    slot.duration.observe(seconds);
  }

  /** One upstream attempt ended: `outcome` is the response status or why there was none. */
  upstreamAttempt(upstream: string, target: string, outcome: number | UpstreamOutcome, seconds: number): void {
    // Per proxied request: two Map lookups by name, no label string built (series are cached per target).
    let targets = this.#attempts.get(upstream);
    if (targets === undefined) this.#attempts.set(upstream, (targets = new Map()));
    let slot = targets.get(target);
    if (slot === undefined) {
      slot = { duration: this.upstreamDuration.series(upstream, target), byClass: [], byOutcome: new Map() };
      targets.set(target, slot);
    }
    let count: CounterSeries | undefined;
    if (typeof outcome === 'number') {
      const ci = classIndex(outcome);
      count = slot.byClass[ci] ??= this.upstreamAttempts.series(upstream, target, CLASSES[ci]!);
    } else {
      count = slot.byOutcome.get(outcome);
      if (count === undefined) slot.byOutcome.set(outcome, (count = this.upstreamAttempts.series(upstream, target, outcome)));
    }
    count.value++;
    slot.duration.observe(seconds);
  }

  /** A target became healthy or unhealthy (health checks, passive ejection). */
  targetHealth(upstream: string, target: string, healthy: boolean): void {
    this.targetHealthy.series(upstream, target).value = healthy ? 1 : 0;
  }

  /** A circuit breaker changed state. Use target '' for a breaker that covers the whole upstream. */
  circuitState(upstream: string, target: string, state: CircuitState): void {
    for (const s of CIRCUIT_STATES) this.circuit.series(upstream, target, s).value = s === state ? 1 : 0;
  }

  cacheResult(route: string, result: CacheResult): void {
    this.cache.series(route, result).value++;
  }

  /** `policy` names the limit (e.g. the policy's configured name or `rate-limit`), not a key value. */
  rateLimitDecision(route: string, policy: string, allowed: boolean): void {
    this.rateLimit.series(route, policy, allowed ? 'allowed' : 'denied').value++;
  }

  logLinesDropped(output: string, lines: number): void {
    this.logDropped.series(output).value += lines;
  }

  storeError(store: string, operation: string): void {
    this.storeErrors.series(store, operation).value++;
  }

  connectionOpened(listener: string): void {
    this.connections.series(listener).value++;
  }

  connectionClosed(listener: string): void {
    this.connections.series(listener).value--;
  }

  /** A client opened an HTTP/2 stream on `listener`. */
  /** A connection on a proxyProtocol listener was closed before it could be served. */
  proxyProtocolRefused(listener: string): void {
    this.proxyProtocolRefusals.series(listener).value++;
  }

  http2Stream(listener: string): void {
    this.http2Streams.series(listener).value++;
  }

  /**
   * The job series of one `async:` route, all created at once (zero until used).
   *
   * @example
   *   const jobs = metrics.asyncJobSeries('reports');
   *   jobs.count('accepted'); jobs.pending.inc();
   *   jobs.ended('succeeded', 1.5); jobs.pending.dec();
   */
  asyncJobSeries(route: string): AsyncJobSeries {
    const counts = new Map<string, CounterSeries>(ASYNC_JOB_OUTCOMES.map((o) => [o, this.asyncJobs.series(route, o)]));
    const durations = new Map<string, HistogramSeries>(ASYNC_JOB_ENDS.map((o) => [o, this.asyncDuration.series(route, o)]));
    const callbacks = new Map<string, CounterSeries>(ASYNC_CALLBACK_OUTCOMES.map((o) => [o, this.asyncCallbacks.series(route, o)]));
    return {
      pending: this.asyncPending.series(route),
      count: (outcome) => void counts.get(outcome)!.value++,
      ended: (outcome, seconds) => {
        counts.get(outcome)!.value++;
        durations.get(outcome)!.observe(seconds);
      },
      callback: (outcome) => void callbacks.get(outcome)!.value++,
    };
  }

  /** A config load or reload finished. */
  reloadResult(ok: boolean, config?: { version: number; hash: string }): void {
    this.reloads.series(ok ? 'success' : 'failure').value++;
    this.lastReloadOk.series().value = ok ? 1 : 0;
    if (ok) {
      this.lastReloadSuccess.series().value = Date.now() / 1000;
      if (config) {
        this.configInfo.reset();
        this.configInfo.series(String(config.version), config.hash).value = 1;
      }
    }
  }

  /** Drops every series labelled with one of these route names (routes a reload removed). */
  forgetRoutes(names: Iterable<string>): void {
    const gone = new Set(names);
    if (gone.size === 0) return;
    for (const n of gone) this.#routes.delete(n);
    const keep = (v: string) => !gone.has(v);
    this.requests.retain('route', keep);
    this.requestDuration.retain('route', keep);
    this.cache.retain('route', keep);
    this.rateLimit.retain('route', keep);
    this.auth.retain('route', keep);
    for (const f of [this.asyncJobs, this.asyncPending, this.asyncDuration, this.asyncCallbacks]) f.retain('route', keep);
  }

  /** Drops every series of an upstream a reload removed. */
  forgetUpstream(name: string): void {
    this.#attempts.delete(name);
    for (const f of this.#upstreamFamilies()) f.retain('upstream', (v) => v !== name);
  }

  /**
   * Drops series of targets an upstream no longer has. `current` maps upstream names to
   * their target labels; upstreams not in it are left alone.
   */
  forgetTargets(current: ReadonlyMap<string, readonly string[]>): void {
    const keep = (upstream: string, labels: Record<string, string>) => {
      const targets = current.get(upstream);
      return targets === undefined || labels.target === '' || targets.includes(labels.target ?? '');
    };
    for (const f of this.#upstreamFamilies()) f.retain('upstream', keep);
    for (const [upstream, targets] of this.#attempts) {
      const now = current.get(upstream);
      if (now !== undefined) for (const t of targets.keys()) if (!now.includes(t)) targets.delete(t);
    }
  }

  #upstreamFamilies() {
    return [this.upstreamAttempts, this.upstreamDuration, this.targetHealthy, this.circuit];
  }

  /** The Prometheus text exposition of this process's registry. */
  text(): Promise<string> {
    return this.registry.metrics();
  }

  get contentType(): string {
    return this.registry.contentType;
  }
}

/**
 * The process-wide metrics. One gateway per process is the deployment model; tests that
 * run several gateways in one process read deltas.
 */
export const metrics = new GatewayMetrics();
