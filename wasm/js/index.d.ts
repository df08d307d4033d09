// Types of every entry of the package (browsers, Node, workerd). They use no DOM or Node types,
// so they check under any `lib` and with `skipLibCheck: false`.

/** Options of `new ObserverMetrics(...)`; all optional unless pushing. */
export interface ObserverMetricsOptions {
  /** Record at all; when false every call is a no-op and renders are empty (true). */
  enabled?: boolean;
  /** The job label of the group; required with `pushgatewayUrl` or `remoteWriteUrl`. */
  job?: string;
  /** The Pushgateway's base URL, e.g. "http://127.0.0.1:9091". */
  pushgatewayUrl?: string;
  /** More grouping labels; values may hold "/" and spaces. */
  groupingKey?: Record<string, string>;
  /** How push(), pushIfDue() and start() send: "put" replaces the group, "post" only the pushed
   * names ("put"). */
  method?: "put" | "post";
  /** A remote-write receiver, e.g. "http://127.0.0.1:9090/api/v1/write"; with or without a
   * Pushgateway. */
  remoteWriteUrl?: string;
  /** The remote-write `instance` label; by default one generated per instance. It must be unique
   * per producer: two producers writing one series are refused as out of order. */
  instance?: string;
  /** Seconds between sends for pushIfDue() and start(); a whole number >= 1 (60). */
  exportIntervalSecs?: number;
  /** Histogram bucket bounds, strictly increasing ([1, 5, 10, 50, 100, 500, 1000, 5000, 10000]). */
  histogramBuckets?: number[];
  /** Buckets of histograms in seconds (named `*_seconds`) ([0.005, …, 10]). */
  histogramBucketsSeconds?: number[];
  /** Buckets by histogram name: a full name, "prefix*" or "*suffix" (e.g. "*_bytes"). */
  bucketOverrides?: Record<string, number[]>;
  /** Fraction of histogram observations kept, 0 to 1 (1). */
  sampleRate?: number;
  /** The most series one metric may have; past it new label sets fold into one series labelled
   * otel_metric_overflow="true"; 0 is no limit (10000). */
  maxSeriesPerMetric?: number;
  /** The longest label value kept, in bytes; a longer one is cut at a character boundary, ends in
   * "…", and is counted in observer_metrics_dropped_total{reason="label_too_long"}; 0 is no limit
   * (4096). */
  maxLabelValueBytes?: number;
  /** Seconds after which a series nobody touched leaves renders and memory, and its place under
   * maxSeriesPerMetric; used again, it starts from zero (never). */
  idleTimeoutSecs?: number;
  /** Called with the Error of each failed start() send. Without it, the first failure of a streak
   * is logged with console.error, and the streak's end with console.info. */
  onError?: (error: Error) => void;
  /** Request headers of both sinks. */
  headers?: Record<string, string>;
  /** Request headers of the Pushgateway only, over `headers`. */
  pushgatewayHeaders?: Record<string, string>;
  /** Request headers of the remote-write receiver only, over `headers`. */
  remoteWriteHeaders?: Record<string, string>;
  /** Deadline of each request in milliseconds (5000). */
  timeoutMs?: number;
  /** Retries of a send that failed for a reason that may pass (no connection, a timeout, 429, 5xx). */
  retry?: { tries?: number; baseBackoffMs?: number; maxBackoffMs?: number; jitter?: number };
  /** Samples per remote-write request at most (2000). */
  maxSamplesPerSend?: number;
  /** A namespace put before every metric name. */
  prefix?: string;
  /** Labels added to every series. */
  globalLabels?: Record<string, string>;
}

/** How an action ended. */
export type ActionOutcome = "success" | "failure" | "timeout";
/** A job-queue operation. */
export type JobOperation = "enqueued" | "processed" | "retry" | "deadletter";

/** Label values by label name. */
export type Labels<N extends string = string> = Partial<Record<N, string | number>>;

/** What every metric object is made from. */
export interface MetricConfiguration<N extends string, M> {
  /** The metric name: letters, digits, `_` and `:`, not first a digit. */
  name: string;
  /** The HELP text. */
  help?: string;
  /** The label names it may have; any other label throws. */
  labelNames?: readonly N[];
  /** Runs before every render, push and remote write, with `this` the metric. */
  collect?: (this: M) => void | Promise<void>;
}

interface MetricBase<N extends string> {
  readonly name: string;
  readonly help: string;
  readonly labelNames: readonly N[];
  /** Removes one label set's series: it leaves the next render, and starts from zero if used again. */
  remove(labels: Labels<N>): void;
  remove(...values: Array<string | number>): void;
  /** Removes every series of this metric. */
  reset(): void;
}

/** A counter's child bound to one label set. */
export interface CounterChild {
  /** Adds `value` (a whole number >= 0; 1 by default). */
  inc(value?: number): void;
}

/** A counter: only goes up, by whole numbers. */
export interface Counter<N extends string = string> extends MetricBase<N> {
  inc(value?: number): void;
  inc(labels: Labels<N>, value?: number): void;
  labels(labels: Labels<N>): CounterChild;
  labels(...values: Array<string | number>): CounterChild;
}

/** A gauge's child bound to one label set. */
export interface GaugeChild {
  set(value: number): void;
  inc(value?: number): void;
  dec(value?: number): void;
  setToCurrentTime(): void;
  /** The returned function sets the gauge to the seconds elapsed and returns them. */
  startTimer(): () => number;
}

/** A gauge: goes up and down. */
export interface Gauge<N extends string = string> extends MetricBase<N> {
  set(value: number): void;
  set(labels: Labels<N>, value: number): void;
  inc(value?: number): void;
  inc(labels: Labels<N>, value?: number): void;
  dec(value?: number): void;
  dec(labels: Labels<N>, value?: number): void;
  setToCurrentTime(labels?: Labels<N>): void;
  /** The returned function sets the gauge to the seconds elapsed and returns them. */
  startTimer(labels?: Labels<N>): (labels?: Labels<N>) => number;
  labels(labels: Labels<N>): GaugeChild;
  labels(...values: Array<string | number>): GaugeChild;
}

/** A histogram's child bound to one label set. */
export interface HistogramChild {
  observe(value: number): void;
  /** The returned function observes the seconds elapsed and returns them. */
  startTimer(): () => number;
}

/** A histogram: observations counted in buckets. */
export interface Histogram<N extends string = string> extends MetricBase<N> {
  observe(value: number): void;
  observe(labels: Labels<N>, value: number): void;
  /** The returned function observes the seconds elapsed and returns them. */
  startTimer(labels?: Labels<N>): (labels?: Labels<N>) => number;
  labels(labels: Labels<N>): HistogramChild;
  labels(...values: Array<string | number>): HistogramChild;
}

/** A histogram's configuration: its own buckets, if the defaults (milliseconds, or seconds for a
 * name ending in `_seconds`) do not fit. */
export interface HistogramConfiguration<N extends string> extends MetricConfiguration<N, Histogram<N>> {
  /** Upper bounds, strictly increasing (`+Inf` is added). */
  buckets?: number[];
}

/** A summary's child bound to one label set. */
export interface SummaryChild {
  /** Observes `value` (a finite number). */
  observe(value: number): void;
  /** The returned function observes the seconds elapsed and returns them. */
  startTimer(): () => number;
}

/** A summary: quantiles over a rolling window (within 1% of the true value), `_sum` and `_count`
 * over its life. */
export interface Summary<N extends string = string> extends MetricBase<N> {
  /** The quantiles it renders. */
  readonly percentiles: readonly number[];
  observe(value: number): void;
  observe(labels: Labels<N>, value: number): void;
  /** The returned function observes the seconds elapsed and returns them. */
  startTimer(labels?: Labels<N>): (labels?: Labels<N>) => number;
  labels(labels: Labels<N>): SummaryChild;
  labels(...values: Array<string | number>): SummaryChild;
}

/** A summary's configuration, as prom-client's. */
export interface SummaryConfiguration<N extends string> extends MetricConfiguration<N, Summary<N>> {
  /** The quantiles, each in [0, 1], strictly increasing ([0.01, 0.05, 0.5, 0.9, 0.95, 0.99, 0.999]). */
  percentiles?: number[];
  /** Seconds the quantiles cover, at most 86400; without it, the series' whole life. */
  maxAgeSeconds?: number;
  /** Slots of the window, 1 to 60 (5, where prom-client 15 would ignore `maxAgeSeconds`): an
   * observation leaves between `maxAgeSeconds` minus one slot and `maxAgeSeconds` after it was
   * made. */
  ageBuckets?: number;
  /** A series whose window emptied leaves the render, and counts from zero if used again (false). */
  pruneAgedBuckets?: boolean;
  /** Accepted for prom-client's sake; the sketch needs no compression. */
  compressCount?: number;
}

/**
 * Prometheus metrics in WebAssembly: metric objects shaped like prom-client's (counter, gauge,
 * histogram, summary), the observer catalogue, and any counter, gauge or histogram by name,
 * rendered as Prometheus text and pushed to a Pushgateway and/or remote-written with `fetch`.
 */
export declare class ObserverMetrics {
  /** Bad options throw an `Error` naming the option. */
  constructor(options?: ObserverMetricsOptions);
  /** Makes (or finds, if made alike before) a counter object. */
  counter<N extends string = string>(config: MetricConfiguration<N, Counter<N>>): Counter<N>;
  /** Adds `value` (a whole number >= 0) to the counter `name`. */
  counter(name: string, value: number, labels?: Record<string, string>): void;
  /** Makes (or finds) a gauge object. */
  gauge<N extends string = string>(config: MetricConfiguration<N, Gauge<N>>): Gauge<N>;
  /** Sets the gauge `name`. */
  gauge(name: string, value: number, labels?: Record<string, string>): void;
  /** Makes (or finds) a histogram object. */
  histogram<N extends string = string>(config: HistogramConfiguration<N>): Histogram<N>;
  /** Records `value` in the histogram `name`. */
  histogram(name: string, value: number, labels?: Record<string, string>): void;
  /** Makes (or finds) a summary object. Summaries have no text call. */
  summary<N extends string = string>(config: SummaryConfiguration<N>): Summary<N>;
  /** The metric object of that name, if one was made. */
  getSingleMetric(name: string): Counter | Gauge | Histogram | Summary | undefined;
  /** `fn` runs before every render, push and remote write; the result removes it. */
  beforeRender(fn: () => void | Promise<void>): () => void;
  /** The text exposition (format 0.0.4), after the collect callbacks (not waiting for promises). */
  render(): string;
  /** The text exposition, after waiting for every collect callback. */
  metrics(): Promise<string>;
  /** `text/plain; version=0.0.4; charset=utf-8`. */
  readonly contentType: string;
  /** PUT (or `options.method`) of the current totals. */
  push(): Promise<void>;
  /** POST: replaces only the metric names pushed. */
  pushAdd(): Promise<void>;
  /** DELETE of the group. */
  deleteGroup(): Promise<void>;
  /** One remote write of the current values. */
  remoteWrite(): Promise<void>;
  /** Sends if `exportIntervalSecs` passed since the last send; `true` if it sent. */
  pushIfDue(): Promise<boolean>;
  /** Stops start(), then a last push and a last remote write with stale markers. */
  end(): Promise<void>;
  /** The remote-write `instance` label; `undefined` without `remoteWriteUrl`. */
  readonly instance: string | undefined;
  /** Sends now and every `exportIntervalSecs`; `unref` lets Node exit meanwhile. Throws in workerd. */
  start(options?: { unref?: boolean }): void;
  /** Stops start()'s sends. */
  stop(): void;
  /** Frees the instance; any later call throws. */
  free(): void;
  recordEvent(durationMs: number, ok?: boolean): void;
  setEventsInFlight(count: number): void;
  recordAction(outcome: ActionOutcome, durationMs: number): void;
  recordJob(operation: JobOperation): void;
  recordCacheLookup(hit: boolean): void;
  setCacheSize(bytes: number): void;
  recordDedupCheck(duplicate: boolean): void;
  recordCheckpointSave(durationMs: number): void;
  recordCheckpointRecovery(): void;
}

/** Instantiates the wasm module: in browsers from its URL (by default next to the package's
 * script); in Node and workerd there is nothing to wait for. */
export declare function init(moduleOrPath?: unknown): Promise<void>;
/** Instantiates the wasm module from a compiled module or its bytes, synchronously (for bundled
 * Node servers, and hosts that load wasm themselves). */
export declare function initSync(module: unknown): void;
export default init;
