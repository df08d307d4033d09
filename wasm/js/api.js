// The npm package's API: metric objects shaped like prom-client's (counter, gauge, histogram,
// labels(), startTimer(), collect, remove, reset) over the wasm core, which stores, renders and
// sends. A label set is resolved to a slot in the core once; after that a call crosses into wasm
// with two numbers, the slot and the value, and nothing is copied.
import { coreOf, typeName } from "./options.js";
import { runtime } from "./runtime.js";
import { Window, quantilesOf } from "./sketch.js";

const COUNTER = 0;
const GAUGE = 1;
const HISTOGRAM = 2;
const SUMMARY = 3;
const KINDS = ["counter", "gauge", "histogram", "summary"];
/** prom-client's default percentiles. */
const PERCENTILES = [0.01, 0.05, 0.5, 0.9, 0.95, 0.99, 0.999];
const SEP = "\u0000";
const METRIC_NAME = /^[a-zA-Z_:][a-zA-Z0-9_:]*$/;
const LABEL_NAME = /^[a-zA-Z_][a-zA-Z0-9_]*$/;
const NO_SINK = "no pushgatewayUrl or remoteWriteUrl was given: nothing to send to";
const MAX_COUNT = 2 ** 64;

const now = () => (typeof performance !== "undefined" ? performance.now() : Date.now());

/** A started timer: the function returned gives `record` the seconds elapsed (and the labels of
 * the ending call), then returns them. */
function timer(record) {
  const start = now();
  return (labels) => {
    const seconds = (now() - start) / 1000;
    record(seconds, labels);
    return seconds;
  };
}

function shown(value) {
  return typeof value === "string" ? JSON.stringify(value) : String(value);
}

function checkCount(where, value) {
  if (typeof value !== "number") {
    throw new TypeError(`${where}: value must be a number, got ${typeName(value)}`);
  }
  if (!(value >= 0 && value < MAX_COUNT && value % 1 === 0)) {
    throw new RangeError(`${where}: increments must be whole numbers >= 0, got ${shown(value)}`);
  }
}

function checkNumber(where, value) {
  if (typeof value !== "number") {
    throw new TypeError(`${where}: value must be a number, got ${typeName(value)}`);
  }
}

/** `value`, if it is of `type`; a TypeError naming the method and the argument otherwise. */
function arg(method, what, value, type) {
  if (typeof value !== type) {
    throw new TypeError(`${method}: ${what} must be a ${type}, got ${typeName(value)}`);
  }
  return value;
}

const OUTCOMES = ["success", "failure", "timeout"];
const OPERATIONS = ["enqueued", "processed", "retry", "deadletter"];

/** The index of `value` in `choices`; a RangeError listing them otherwise. */
function choice(method, what, value, choices) {
  arg(method, what, value, "string");
  const at = choices.indexOf(value);
  if (at < 0) {
    const listed = choices.map((c) => JSON.stringify(c));
    const last = listed.pop();
    throw new RangeError(`${method}: ${what} must be ${listed.join(", ")} or ${last}, got ${JSON.stringify(value)}`);
  }
  return at;
}

/** The core's send, rejecting with an Error whose message is the core's. */
function errorOf(e) {
  return e instanceof Error ? e : new Error(typeof e === "string" ? e : JSON.stringify(e));
}

/** A core that was freed: every use says so. */
const FREED = new Proxy(
  {},
  {
    get() {
      throw new Error("observer-metrics: this ObserverMetrics was freed (free() or [Symbol.dispose]()); make a new one");
    },
  },
);

/**
 * What the metric objects of one instance share: the core, and the series whose counts or values
 * wait in JS for the next render or send. Counters and gauges record into plain JS fields, which
 * costs no crossing into wasm; `flush()` hands them over (registering new label sets then) before
 * every render, push and remote write, so every render and send sees every call made before it.
 * Histograms record straight into the core, which owns the buckets.
 *
 * With `idleTimeoutSecs`, a series no call touched for that long gives its slot back here, so the
 * core's idle sweep can free it and its place under `maxSeriesPerMetric`; used again, it is a new
 * series from zero, as in the core.
 */
class Box {
  constructor(core, idleMs) {
    this.core = core;
    this.dirty = [];
    this.idleMs = idleMs;
    /** Series holding a slot, for idle expiry (only with idleTimeoutSecs). */
    this.held = idleMs > 0 ? new Set() : null;
    this.lastExpiry = 0;
    /** The summary metric objects: their quantiles are computed and handed over at every flush. */
    this.summaries = [];
  }

  /** Registers `s` in the core. */
  register(s) {
    s.slot = this.core.register(s.metric.kind, s.metric.name, s.labelPairs());
    if (s.metric.kind === SUMMARY) s.overflow = this.core.overflowed(s.slot);
    if (this.held !== null) {
      s.seen = Date.now();
      this.held.add(s);
    }
    return s.slot;
  }

  /** Lets go of `s`'s slot: removed, or idle. */
  release(s, remove) {
    if (s.slot >= 0) {
      if (remove) this.core.release(s.metric.kind, s.slot, s.metric.name, s.labelPairs());
      else this.core.forget(s.metric.kind, s.slot);
      s.slot = -1;
    }
    this.held?.delete(s);
    s.home.delete(s.key);
    s.metric.owner?.gone();
    s.removed = true;
    s.dirty = false;
    s.pending = 0;
    s.hasSet = false;
    s.window = null;
  }

  flush() {
    const dirty = this.dirty;
    if (dirty === FREED) return;
    if (dirty.length !== 0) {
      this.dirty = [];
      const core = this.core;
      const seen = this.held === null ? 0 : Date.now();
      for (const s of dirty) {
        if (!s.dirty) continue;
        s.dirty = false;
        s.seen = seen;
        const kind = s.metric.kind;
        // A histogram is marked only to be seen: its observations are in the core already.
        if (kind === HISTOGRAM) continue;
        if (s.slot < 0) this.register(s);
        // A summary hands over its window below, changed or not: its quantiles move with time.
        if (kind === SUMMARY) continue;
        if (kind === COUNTER) {
          core.inc(s.slot, s.pending);
        } else if (s.hasSet) {
          core.set(s.slot, s.value);
        } else {
          core.add(s.slot, s.pending);
        }
        s.pending = 0;
        s.hasSet = false;
      }
    }
    if (this.summaries.length !== 0) {
      const t = now();
      for (const summary of this.summaries) summary.publish(this.core, t);
    }
    if (this.held !== null) this.expire();
  }

  /** Gives back the slots of series untouched for idleTimeoutSecs (looked at once a second). */
  expire() {
    const now = Date.now();
    if (now - this.lastExpiry < 1000) return;
    this.lastExpiry = now;
    for (const s of this.held) {
      if (now - s.seen >= this.idleMs) this.release(s, false);
    }
  }
}

/** One series: its slot in the core once registered, and what waits to be handed over. */
class Series {
  constructor(metric, key, pairs, home) {
    this.metric = metric;
    this.key = key;
    this.pairs = pairs;
    /** The map that finds it by `key`. */
    this.home = home;
    this.slot = -1;
    this.dirty = false;
    this.removed = false;
    this.pending = 0;
    this.hasSet = false;
    this.value = 0;
    this.seen = 0;
    this.child = null;
    /** A summary's observations (a sketch window, count and sum), made at its first. */
    this.window = null;
    /** Whether a summary's slot is its family's overflow series, shared past the series limit. */
    this.overflow = false;
  }

  /** The live series of this label set: a series that outlived remove() (or idle expiry) moves its
   * child to the one made since, or brings itself back. */
  relink() {
    if (!this.removed) return this;
    const live = this.home.get(this.key);
    if (live !== undefined) {
      live.child ??= this.child;
      return live;
    }
    this.removed = false;
    this.home.set(this.key, this);
    this.metric.owner?.back();
    return this;
  }

  /** Marks the live series of this label set as waiting for the next flush, and returns it. */
  mark() {
    const s = this.relink();
    if (!s.dirty) {
      s.dirty = true;
      s.metric.box.dirty.push(s);
    }
    return s;
  }

  /** The slot of a histogram series, registered now: its observations go straight to the core. */
  now() {
    const s = this.relink();
    if (!s.dirty) s.mark();
    return s.slot >= 0 ? s.slot : s.metric.box.register(s);
  }

  /** The core's label pairs of this series. */
  labelPairs() {
    return this.pairs ?? (this.pairs = this.metric.pairsOf(this.key));
  }

  /** A counter's `value` (checked by the caller), kept in JS until the next flush. */
  add(value) {
    let s = this.dirty ? this : this.mark();
    // The pending sum stays a whole number a JS number holds exactly.
    if (s.pending + value > Number.MAX_SAFE_INTEGER) {
      s.metric.box.flush();
      s = s.mark();
    }
    s.pending += value;
    return s;
  }

  /** A gauge's new value. */
  set(value) {
    const s = this.dirty ? this : this.mark();
    s.hasSet = true;
    s.value = value;
    return s;
  }

  /** A gauge's change. */
  move(delta) {
    const s = this.dirty ? this : this.mark();
    if (s.hasSet) s.value += delta;
    else s.pending += delta;
    return s;
  }
}

/** What every metric object shares: its name, label names and series. */
class Metric {
  constructor(box, kind, config) {
    const what = `${KINDS[kind]}(${config && typeof config.name === "string" ? JSON.stringify(config.name) : ""})`;
    if (typeof config !== "object" || config === null) {
      throw new TypeError(`${KINDS[kind]}: the argument must be { name, help, labelNames? }, got ${typeName(config)}`);
    }
    const { name, help, labelNames = [], collect } = config;
    if (typeof name !== "string" || !METRIC_NAME.test(name)) {
      throw new Error(`${what}: name must match ${METRIC_NAME} (letters, digits, _ and :, not first a digit), got ${shown(name)}`);
    }
    if (help !== undefined && typeof help !== "string") {
      throw new TypeError(`${what}: help must be a string, got ${typeName(help)}`);
    }
    if (!Array.isArray(labelNames)) {
      throw new TypeError(`${what}: labelNames must be an array of strings, got ${typeName(labelNames)}`);
    }
    for (const label of labelNames) {
      if (typeof label !== "string" || !LABEL_NAME.test(label) || label.startsWith("__")) {
        throw new Error(`${what}: label name ${shown(label)} is not valid (letters, digits and _, not first a digit, not starting with __)`);
      }
      if (kind === HISTOGRAM && label === "le") {
        throw new Error(`${what}: "le" is reserved for the bucket bounds of a histogram`);
      }
      if (kind === SUMMARY && (label === "quantile" || label === "le")) {
        throw new Error(`${what}: "quantile" is reserved for the quantile lines of a summary (and "le", as it is kept as a histogram's)`);
      }
    }
    if (new Set(labelNames).size !== labelNames.length) {
      throw new Error(`${what}: labelNames has a name twice: ${JSON.stringify(labelNames)}`);
    }
    if (collect !== undefined && typeof collect !== "function") {
      throw new TypeError(`${what}: collect must be a function, got ${typeName(collect)}`);
    }
    this.box = box;
    this.kind = kind;
    this.name = name;
    this.help = help ?? "";
    this.labelNames = Object.freeze([...labelNames]);
    this.what = what;
    /** key (the values in labelNames' order) -> Series */
    this.series = new Map();
    this.plain = null;
    this.collector = collect;
    if (help) box.core.describe(name, help);
  }

  /** The key of `labels` (an object of label values): the values in labelNames' order. Throws for a
   * label outside labelNames. */
  keyOf(labels) {
    const names = this.labelNames;
    if (names.length === 1) {
      // The common case: the value is the key, with no string built.
      const v = labels[names[0]];
      let given = 0;
      for (const k in labels) given++;
      if (given !== (v === undefined ? 0 : 1)) this.checkNames(labels);
      return v === undefined ? "" : typeof v === "string" ? v : String(v);
    }
    let key = "";
    let found = 0;
    for (let i = 0; i < names.length; i++) {
      const v = labels[names[i]];
      if (v !== undefined) {
        key += v;
        found++;
      }
      key += SEP;
    }
    let given = 0;
    for (const k in labels) given++;
    if (given !== found) this.checkNames(labels);
    return key;
  }

  /** The series of `labels`, made on first sight. */
  lookup(labels) {
    const key = this.keyOf(labels);
    return this.series.get(key) ?? this.make(key, labels);
  }

  /** Throws for a label outside labelNames (a typo would otherwise make a new series). */
  checkNames(labels) {
    for (const k in labels) {
      if (labels[k] !== undefined && !this.labelNames.includes(k)) {
        throw new Error(`${this.what}: label ${JSON.stringify(k)} is not one of its labelNames ${JSON.stringify(this.labelNames)}`);
      }
    }
  }

  make(key, labels) {
    for (const name of this.labelNames) {
      const v = labels[name];
      if (typeof v === "string") {
        if (v.indexOf(SEP) !== -1) throw new Error(`${this.what}: label ${name}'s value holds a NUL character`);
      } else if (v !== undefined && typeof v !== "number" && typeof v !== "boolean") {
        throw new TypeError(`${this.what}: label ${name} must be a string or a number, got ${typeName(v)}`);
      }
    }
    const series = new Series(this, key, null, this.series);
    this.series.set(key, series);
    return series;
  }

  /** The core's label pairs of a key: the label names with their values, empty ones left out (an
   * empty label value is no label, to Prometheus). Made when the series is registered, not on the
   * call that made it. */
  pairsOf(key) {
    const values = this.labelNames.length === 1 ? [key] : key.split(SEP);
    let pairs = "";
    for (let i = 0; i < this.labelNames.length; i++) {
      if (values[i] !== "") pairs += this.labelNames[i] + SEP + values[i] + SEP;
    }
    return pairs;
  }

  /** The series of `labels`, or the one without labels. */
  seriesOf(labels) {
    if (labels === undefined) {
      const plain = this.plain;
      return plain !== null && !plain.removed ? plain : (this.plain = this.lookup({}));
    }
    return this.lookup(labels);
  }

  /** Label values, in labelNames' order or as an object, as labels() and remove() take them. */
  toLabels(args) {
    if (args.length === 1 && typeof args[0] === "object" && args[0] !== null) return args[0];
    if (args.length !== this.labelNames.length) {
      throw new Error(`${this.what}: ${args.length} label values given for labelNames ${JSON.stringify(this.labelNames)}`);
    }
    const labels = {};
    args.forEach((v, i) => {
      labels[this.labelNames[i]] = v;
    });
    return labels;
  }

  /** The child bound to one label set; its calls touch JS fields only. */
  labels(...args) {
    const series = this.lookup(this.toLabels(args));
    return series.child ?? (series.child = this.childOf(series));
  }

  /** Removes one label set's series: it leaves the next render, and counts from zero if used again. */
  remove(...args) {
    this.drop(this.series.get(this.keyOf(this.toLabels(args))));
  }

  drop(series) {
    if (series !== undefined && !series.removed) this.box.release(series, true);
  }

  /** Removes every series of this metric; one without labels starts again from zero. */
  reset() {
    for (const series of [...this.series.values()]) this.drop(series);
    this.present();
  }

  /** A metric without labels shows its one series from the start, at zero, as prom-client's do. */
  present() {
    if (this.labelNames.length !== 0) return;
    const series = this.seriesOf(undefined);
    if (this.kind === HISTOGRAM) series.now();
    else series.mark();
  }
}

class CounterChild {
  constructor(series) {
    this.s = series;
  }
  /** Adds `value` (a whole number >= 0; 1 by default). */
  inc(value = 1) {
    checkCount(this.s.metric.what, value);
    this.s = this.s.add(value);
  }
}

/** A counter; made by `metrics.counter({ name, help, labelNames })`. */
export class Counter extends Metric {
  constructor(box, config) {
    super(box, COUNTER, config);
    this.present();
  }
  /** inc(), inc(value), inc(labels), inc(labels, value). */
  inc(a, b) {
    if (typeof a === "object" && a !== null) {
      const value = b === undefined ? 1 : b;
      checkCount(this.what, value);
      this.lookup(a).add(value);
    } else {
      const value = a === undefined ? 1 : a;
      checkCount(this.what, value);
      this.seriesOf(undefined).add(value);
    }
  }
  childOf(series) {
    return new CounterChild(series);
  }
}

class GaugeChild {
  constructor(series) {
    this.s = series;
  }
  set(value) {
    checkNumber(this.s.metric.what, value);
    this.s = this.s.set(value);
  }
  inc(value = 1) {
    checkNumber(this.s.metric.what, value);
    this.s = this.s.move(value);
  }
  dec(value = 1) {
    checkNumber(this.s.metric.what, value);
    this.s = this.s.move(-value);
  }
  setToCurrentTime() {
    this.set(Date.now() / 1000);
  }
  /** Starts a timer; the function it returns sets the gauge to the seconds elapsed and returns them. */
  startTimer() {
    return timer((seconds) => this.set(seconds));
  }
}

/** A gauge; made by `metrics.gauge({ name, help, labelNames })`. */
export class Gauge extends Metric {
  constructor(box, config) {
    super(box, GAUGE, config);
    this.present();
  }
  #series(a) {
    return typeof a === "object" && a !== null ? this.lookup(a) : this.seriesOf(undefined);
  }
  /** set(value) or set(labels, value). */
  set(a, b) {
    const labelled = typeof a === "object" && a !== null;
    const value = labelled ? b : a;
    checkNumber(this.what, value);
    this.#series(a).set(value);
  }
  inc(a, b) {
    const labelled = typeof a === "object" && a !== null;
    const value = (labelled ? b : a) ?? 1;
    checkNumber(this.what, value);
    this.#series(a).move(value);
  }
  dec(a, b) {
    const labelled = typeof a === "object" && a !== null;
    const value = (labelled ? b : a) ?? 1;
    checkNumber(this.what, value);
    this.#series(a).move(-value);
  }
  setToCurrentTime(labels) {
    this.set(labels ?? {}, Date.now() / 1000);
  }
  /** Starts a timer; the function it returns sets the gauge to the seconds elapsed (with the labels
   * of both calls) and returns them. */
  startTimer(labels) {
    return timer((seconds, more) => this.set({ ...labels, ...more }, seconds));
  }
  childOf(series) {
    return new GaugeChild(series);
  }
}

class HistogramChild {
  constructor(series) {
    this.s = series;
  }
  observe(value) {
    const s = this.s;
    checkNumber(s.metric.what, value);
    s.metric.box.core.observe(s.dirty ? s.slot : s.now(), value);
  }
  /** Starts a timer; the function it returns observes the seconds elapsed and returns them. */
  startTimer() {
    return timer((seconds) => this.observe(seconds));
  }
}

/** A histogram; made by `metrics.histogram({ name, help, labelNames, buckets })`. */
export class Histogram extends Metric {
  constructor(box, config) {
    super(box, HISTOGRAM, config);
    if (config.buckets !== undefined) {
      if (!Array.isArray(config.buckets)) {
        throw new TypeError(`${this.what}: buckets must be an array of numbers, got ${typeName(config.buckets)}`);
      }
      if (!box.core.shape(`${this.what}.buckets`, this.name, new Float64Array(config.buckets), false)) {
        throw new Error(`${this.what}: buckets cannot change: the histogram recorded before, and a family's buckets are fixed by its first series`);
      }
    }
    this.present();
  }
  /** observe(value) or observe(labels, value). */
  observe(a, b) {
    const labelled = typeof a === "object" && a !== null;
    const value = labelled ? b : a;
    checkNumber(this.what, value);
    const s = labelled ? this.lookup(a) : this.seriesOf(undefined);
    this.box.core.observe(s.dirty ? s.slot : s.now(), value);
  }
  /** Starts a timer; the function it returns observes the seconds elapsed (with the labels of both
   * calls) and returns them. */
  startTimer(labels) {
    return timer((seconds, more) => this.observe({ ...labels, ...more }, seconds));
  }
  childOf(series) {
    return new HistogramChild(series);
  }
}

class SummaryChild {
  constructor(series) {
    this.s = series;
  }
  observe(value) {
    this.s = this.s.metric.record(this.s, value);
  }
  /** Starts a timer; the function it returns observes the seconds elapsed and returns them. */
  startTimer() {
    return timer((seconds) => this.observe(seconds));
  }
}

/** A number that is not finite: prom-client's summary refuses it too (a sketch cannot place it),
 * with a TypeError as here. */
function checkFinite(where, value) {
  if (typeof value !== "number" || !Number.isFinite(value)) {
    throw new TypeError(`${where}: a summary takes finite numbers only, got ${typeof value === "number" ? value : typeName(value)}`);
  }
}

/**
 * A summary; made by `metrics.summary({ name, help, labelNames, percentiles, maxAgeSeconds,
 * ageBuckets, pruneAgedBuckets })`, as prom-client's. Its observations stay in JS, in a sketch
 * whose quantiles are within 1% of the true value; every render and send hands the core the
 * quantiles over the window (`maxAgeSeconds` in `ageBuckets` slots; without it, the series' whole
 * life, as prom-client), and `_sum` and `_count` over the series' life.
 */
export class Summary extends Metric {
  constructor(box, config) {
    super(box, SUMMARY, config);
    const { percentiles = PERCENTILES, maxAgeSeconds, ageBuckets, pruneAgedBuckets = false } = config;
    if (!Array.isArray(percentiles) || !percentiles.every((p) => typeof p === "number")) {
      throw new TypeError(`${this.what}: percentiles must be an array of numbers, got ${typeName(percentiles)}`);
    }
    if (maxAgeSeconds !== undefined && !(typeof maxAgeSeconds === "number" && maxAgeSeconds > 0 && maxAgeSeconds <= 86400)) {
      throw new RangeError(`${this.what}: maxAgeSeconds must be a number of seconds above 0, at most 86400, got ${shown(maxAgeSeconds)}`);
    }
    if (ageBuckets !== undefined && !(Number.isInteger(ageBuckets) && ageBuckets >= 1 && ageBuckets <= 60)) {
      throw new RangeError(`${this.what}: ageBuckets must be a whole number from 1 to 60, got ${shown(ageBuckets)}`);
    }
    if (typeof pruneAgedBuckets !== "boolean") {
      throw new TypeError(`${this.what}: pruneAgedBuckets must be a boolean, got ${typeName(pruneAgedBuckets)}`);
    }
    if (!box.core.shape(`${this.what}.percentiles`, this.name, new Float64Array(percentiles), true)) {
      throw new Error(`${this.what}: a histogram or summary of that name recorded before, and a family's shape is fixed by its first series`);
    }
    this.percentiles = Object.freeze([...percentiles]);
    // Without maxAgeSeconds, one slot for ever. With it and no ageBuckets, five slots (prom-client
    // 15 ignores maxAgeSeconds without ageBuckets, and its quantiles then cover the series' life).
    this.slots = maxAgeSeconds === undefined ? 1 : ageBuckets ?? 5;
    this.slotMs = maxAgeSeconds === undefined ? Infinity : (maxAgeSeconds * 1000) / this.slots;
    this.prune = pruneAgedBuckets && maxAgeSeconds !== undefined;
    this.signature = Summary.signatureOf(config);
    this.values = new Float64Array(this.percentiles.length);
    box.summaries.push(this);
    this.present();
  }

  /** What two configurations must share to be one summary. */
  static signatureOf({ percentiles = PERCENTILES, maxAgeSeconds, ageBuckets, pruneAgedBuckets = false }) {
    return JSON.stringify([percentiles, maxAgeSeconds ?? null, maxAgeSeconds === undefined ? 1 : ageBuckets ?? 5, pruneAgedBuckets]);
  }

  /** Observes `value` in `s`; returns the live series of its label set. */
  record(s, value) {
    checkFinite(this.what, value);
    s = s.dirty ? s : s.mark();
    // A lifetime window needs no clock.
    const t = this.slotMs === Infinity ? 0 : now();
    (s.window ??= new Window(this.slotMs, this.slots, t)).observe(value, t);
    return s;
  }

  /** observe(value) or observe(labels, value). */
  observe(a, b) {
    const labelled = typeof a === "object" && a !== null;
    this.record(labelled ? this.lookup(a) : this.seriesOf(undefined), labelled ? b : a);
  }

  /** Starts a timer; the function it returns observes the seconds elapsed (with the labels of both
   * calls) and returns them. */
  startTimer(labels) {
    return timer((seconds, more) => this.observe({ ...labels, ...more }, seconds));
  }

  childOf(series) {
    return new SummaryChild(series);
  }

  /** Hands the core each registered series' count, sum and quantiles at `now`; with
   * pruneAgedBuckets, a series whose window emptied leaves (and counts from zero if used again). */
  publish(core, t) {
    const values = this.values;
    let overflow = null;
    for (const s of this.series.values()) {
      const window = s.window;
      if (s.slot < 0 || window === null) continue;
      if (s.overflow) {
        // Label sets past maxSeriesPerMetric share the core's overflow series: one set for all.
        (overflow ??= []).push(s);
        continue;
      }
      // Nothing observed: the core's series is at 0 with NaN quantiles already. A lifetime
      // summary with nothing new is as the core has it.
      if (!window.fresh && this.slotMs === Infinity) continue;
      window.fresh = false;
      if (this.prune && window.empty(t)) {
        this.drop(s);
        continue;
      }
      core.summary(s.slot, window.count, window.sum, quantilesOf([window], this.percentiles, t, values));
    }
    if (overflow !== null) {
      const windows = overflow.map((s) => s.window);
      const count = windows.reduce((n, w) => n + w.count, 0);
      const sum = windows.reduce((n, w) => n + w.sum, 0);
      core.summary(overflow[0].slot, count, sum, quantilesOf(windows, this.percentiles, t, values));
    }
  }
}

const CLASSES = [Counter, Gauge, Histogram, Summary];

/** Label sets the text calls keep a series for, per kind; past it a call goes to the core at once
 * and keeps nothing, so labels from unbounded input cost no memory beyond the core's cardinality
 * limit. */
const TEXT_SERIES = 50000;

/** The text calls' series of one name. The label names of its first call are its names: a call with
 * the same names in the same order (the usual case) is keyed by its values alone, as a metric
 * object's calls are; any other call by its whole "label\0value\0…" pairs. */
class TextFamily {
  constructor(owner, box, kind, name, labels) {
    this.owner = owner;
    this.box = box;
    this.kind = kind;
    this.name = name;
    this.names = labels ? Object.keys(labels) : [];
    /** values key -> Series */
    this.series = new Map();
    /** pairs -> Series, for calls with other label names */
    this.other = new Map();
  }

  /** The core's label pairs of a values key. */
  pairsOf(key) {
    const values = this.names.length === 1 ? [key] : key.split(SEP);
    let pairs = "";
    for (let i = 0; i < this.names.length; i++) {
      if (values[i] !== "") pairs += this.names[i] + SEP + values[i] + SEP;
    }
    return pairs;
  }
}

/** Throws for a label value holding a NUL, which would end it early in the core's label pairs. */
function noNul(name, labels) {
  for (const k in labels) {
    if (labels[k].indexOf(SEP) !== -1) throw new Error(`${name}: label ${k}'s value holds a NUL character`);
  }
}

/** The core's label pairs of a text call's labels, empty values left out (an empty label value is
 * no label, to Prometheus). */
function pairsOf(labels) {
  let pairs = "";
  for (const k in labels) {
    if (labels[k] !== "") pairs += k + SEP + labels[k] + SEP;
  }
  return pairs;
}

/** The text calls' series of one kind. */
class TextSeries {
  constructor(box, kind) {
    this.box = box;
    this.kind = kind;
    this.families = new Map();
    this.size = 0;
  }

  /** The series of `name` with `labels` (checked: a plain object of strings), or `undefined` when
   * full. */
  get(method, name, labels) {
    if (typeof name !== "string") {
      throw new TypeError(`${method}: name must be a string, got ${typeName(name)}`);
    }
    if (labels === null) labels = undefined;
    if (labels !== undefined && (typeof labels !== "object" || Array.isArray(labels))) {
      throw new TypeError(`${method}: labels must be a plain object of strings, got ${typeName(labels)}`);
    }
    let family = this.families.get(name);
    if (family === undefined) {
      if (this.refuse?.(name)) {
        throw new Error(`${method}(${JSON.stringify(name)}): a summary of that name was made already; observe it through its object`);
      }
      family = new TextFamily(this, this.box, this.kind, name, labels);
      this.families.set(name, family);
    }
    const names = family.names;
    let key = "";
    let i = 0;
    let same = true;
    for (const k in labels) {
      const v = labels[k];
      if (typeof v !== "string") {
        throw new TypeError(`${method}: labels.${k} must be a string, got ${typeName(v)}`);
      }
      if (names[i] !== k) same = false;
      key = i === 0 ? v : key + SEP + v;
      i++;
    }
    if (same && i === names.length) {
      return family.series.get(key) ?? this.#add(family, family.series, key, null, labels);
    }
    const pairs = pairsOf(labels);
    return family.other.get(pairs) ?? this.#add(family, family.other, pairs, pairs, labels);
  }

  #add(family, map, key, pairs, labels) {
    if (this.size >= TEXT_SERIES) return undefined;
    noNul(family.name, labels);
    const series = new Series(family, key, pairs, map);
    map.set(key, series);
    this.size++;
    return series;
  }

  /** A series left (idle expiry). */
  gone() {
    this.size--;
  }

  /** A series came back. */
  back() {
    this.size++;
  }

  /** Every series, for free(). */
  *all() {
    for (const family of this.families.values()) {
      yield* family.series.values();
      yield* family.other.values();
    }
  }
}

/**
 * Prometheus metrics in WebAssembly: metric objects shaped like prom-client's, the observer
 * catalogue, and any counter, gauge or histogram by name, rendered as Prometheus text and pushed to
 * a Pushgateway and/or remote-written with `fetch`.
 */
export class ObserverMetrics {
  #box;
  #metrics = new Map();
  #text;
  #hooks = [];
  #onError;
  #intervalMs;
  #lastAttempt;
  #timer = null;
  #failing = false;

  constructor(options) {
    if (!runtime.ready) {
      if (!runtime.load) {
        throw new Error("observer-metrics: the wasm module is not loaded yet: `await init()` (or `initSync({ module })`) before `new ObserverMetrics(...)`");
      }
      runtime.load();
    }
    const onError = options?.onError;
    if (onError !== undefined && onError !== null && typeof onError !== "function") {
      throw new TypeError(`new ObserverMetrics: options.onError must be a function, got ${typeName(onError)}`);
    }
    const idle = options?.idleTimeoutSecs;
    this.#box = new Box(coreOf(options), typeof idle === "number" ? idle * 1000 : 0);
    this.#text = [0, 1, 2].map((kind) => new TextSeries(this.#box, kind));
    // A text call's histogram would record into a summary's family, which takes only what JS sets.
    this.#text[HISTOGRAM].refuse = (name) => this.#metrics.get(name)?.kind === SUMMARY;
    this.#onError = onError ?? undefined;
    const secs = options?.exportIntervalSecs;
    this.#intervalMs = (typeof secs === "number" ? secs : 60) * 1000;
  }

  /** The core. What waits in JS reaches it at a flush: render(), metrics() and sends flush first;
   * the catalogue's calls and a text call past the series limit go straight to it. */
  #core() {
    return this.#box.core;
  }

  #metric(kind, config) {
    const existing = typeof config?.name === "string" ? this.#metrics.get(config.name) : undefined;
    if (existing) {
      const same =
        existing.kind === kind &&
        existing.help === (config.help ?? "") &&
        JSON.stringify(existing.labelNames) === JSON.stringify(config.labelNames ?? []) &&
        (kind !== SUMMARY || existing.signature === Summary.signatureOf(config));
      if (!same) {
        throw new Error(`${KINDS[kind]}(${JSON.stringify(config.name)}): a ${KINDS[existing.kind]} of that name was made already with help ${JSON.stringify(existing.help)} and labelNames ${JSON.stringify(existing.labelNames)}`);
      }
      return existing;
    }
    const metric = new CLASSES[kind](this.#box, config);
    this.#metrics.set(metric.name, metric);
    return metric;
  }

  /** A text call's series past the limit: registered, recorded and let go at once. */
  #once(kind, name, labels, record) {
    noNul(name, labels);
    const pairs = pairsOf(labels);
    const core = this.#core();
    const slot = core.register(kind, name, pairs);
    record(core, slot);
    core.forget(kind, slot);
  }

  /**
   * `counter({ name, help, labelNames, collect })` makes (or finds) a counter object;
   * `counter(name, value, labels?)` adds `value` to the counter `name` directly. (One object
   * argument is a metric object's configuration; anything else is a text call.)
   */
  counter(config, value, labels) {
    if (value === undefined && typeof config === "object" && config !== null) return this.#metric(COUNTER, config);
    const series = this.#text[COUNTER].get("counter", config, labels);
    checkNumber("counter", value);
    checkCount(`counter ${config}`, value);
    if (series !== undefined) series.add(value);
    else this.#once(COUNTER, config, labels, (core, s) => core.inc(s, value));
  }

  /** `gauge({ name, help, labelNames, collect })`, or `gauge(name, value, labels?)` to set it. */
  gauge(config, value, labels) {
    if (value === undefined && typeof config === "object" && config !== null) return this.#metric(GAUGE, config);
    const series = this.#text[GAUGE].get("gauge", config, labels);
    checkNumber("gauge", value);
    if (series !== undefined) series.set(value);
    else this.#once(GAUGE, config, labels, (core, s) => core.set(s, value));
  }

  /** `histogram({ name, help, labelNames, buckets, collect })`, or `histogram(name, value, labels?)`. */
  histogram(config, value, labels) {
    if (value === undefined && typeof config === "object" && config !== null) return this.#metric(HISTOGRAM, config);
    const series = this.#text[HISTOGRAM].get("histogram", config, labels);
    checkNumber("histogram", value);
    if (series !== undefined) this.#box.core.observe(series.dirty ? series.slot : series.now(), value);
    else this.#once(HISTOGRAM, config, labels, (core, s) => core.observe(s, value));
  }

  /** `summary({ name, help, labelNames, percentiles, maxAgeSeconds, ageBuckets, pruneAgedBuckets,
   * collect })` makes (or finds) a summary object, as prom-client's `new Summary(...)`. */
  summary(config) {
    if (typeof config !== "object" || config === null) {
      throw new TypeError(`summary: the argument must be { name, help, labelNames?, percentiles?, maxAgeSeconds?, ageBuckets? } (summaries have no text call), got ${typeName(config)}`);
    }
    // A text call's series wait in JS: the core cannot tell yet that the name is taken.
    const taken = this.#text.findIndex((text) => text.families.has(config.name));
    if (taken >= 0 && !this.#metrics.has(config.name)) {
      throw new Error(`summary(${JSON.stringify(config.name)}): a ${KINDS[taken]} of that name was recorded by a text call`);
    }
    return this.#metric(SUMMARY, config);
  }

  /** The metric object of that name, if one was made. */
  getSingleMetric(name) {
    return this.#metrics.get(name);
  }

  /** `fn()` runs before every render, push and remote write (start() ticks included), as the
   * metric objects' `collect` callbacks do. Returns a function that removes it. */
  beforeRender(fn) {
    if (typeof fn !== "function") {
      throw new TypeError(`beforeRender: the argument must be a function, got ${typeName(fn)}`);
    }
    this.#hooks.push(fn);
    return () => {
      this.#hooks = this.#hooks.filter((h) => h !== fn);
    };
  }

  /** Runs the hooks and collect callbacks; returns the promises of those that returned one. */
  #collect() {
    const pending = [];
    const run = (result) => {
      if (result && typeof result.then === "function") pending.push(result);
    };
    for (const hook of this.#hooks) run(hook());
    for (const metric of this.#metrics.values()) {
      if (metric.collector) run(metric.collector.call(metric));
    }
    return pending;
  }

  async #collected() {
    const pending = this.#collect();
    if (pending.length) await Promise.all(pending);
  }

  /** The Prometheus text exposition (format 0.0.4), after the collect callbacks (a callback's
   * promise is not waited for here: metrics() waits). */
  render() {
    this.#collect();
    this.#box.flush();
    return this.#core().render();
  }

  /** As prom-client's `register.metrics()`: the exposition, after waiting for every collect
   * callback. */
  async metrics() {
    await this.#collected();
    this.#box.flush();
    return this.#core().render();
  }

  /** The content type of the exposition. */
  get contentType() {
    return "text/plain; version=0.0.4; charset=utf-8";
  }

  async #send(verb) {
    await this.#collected();
    this.#box.flush();
    try {
      await this.#core().send(verb);
    } catch (e) {
      throw errorOf(e);
    }
  }

  /** Pushes the current totals with `options.method` (PUT, replacing the group, by default);
   * restarts the interval pushIfDue() counts from. */
  push() {
    this.#lastAttempt = Date.now();
    return this.#send(0);
  }

  /** POST: replaces only the metric names pushed, whatever `options.method` says. */
  pushAdd() {
    this.#lastAttempt = Date.now();
    return this.#send(1);
  }

  /** DELETE: removes the group from the gateway (in turn with the pushes). */
  deleteGroup() {
    return this.#send(2);
  }

  /** Writes the current values to the remote-write receiver. */
  remoteWrite() {
    return this.#send(3);
  }

  /** Pushes and writes if `exportIntervalSecs` passed since the last push, or none was made;
   * resolves `true` if it sent, `false` if it was not due. For edge workers: call it at the end of
   * a request inside `ctx.waitUntil`. */
  async pushIfDue() {
    const t = Date.now();
    if (this.#lastAttempt !== undefined && t - this.#lastAttempt < this.#intervalMs) return false;
    this.#lastAttempt = t;
    await this.#send(5);
    return true;
  }

  /** The end of this instance: stops start()'s timer, then a last push and a last remote write
   * followed by a stale marker for every series. */
  end() {
    this.stop();
    return this.#send(4);
  }

  /** The `instance` label of the remote-written series; `undefined` without `remoteWriteUrl`. */
  get instance() {
    return this.#core().instance;
  }

  async #tick() {
    this.#lastAttempt = Date.now();
    let error = null;
    try {
      await this.#send(5);
    } catch (e) {
      error = e;
    }
    const wasFailing = this.#failing;
    this.#failing = error !== null;
    if (error && this.#onError) {
      try {
        this.#onError(error);
      } catch {
        // A throwing callback must not end the timer.
      }
    } else if (error && !wasFailing) {
      console.error(
        `observer-metrics: interval push failed (retrying every ${this.#intervalMs / 1000} s; further failures are not logged until one succeeds): ${error.message}`,
      );
    } else if (!error && wasFailing && !this.#onError) {
      console.info("observer-metrics: interval pushes succeed again");
    }
  }

  /** Sends right away and then every `exportIntervalSecs`. A failed send goes to
   * `options.onError` (or one console.error per failure streak). `{ unref: true }` lets Node exit
   * while started. Throws in workerd, whose timers do not run between requests. */
  start(options) {
    if (runtime.requestBound) {
      throw new Error("start() cannot work in workerd (Cloudflare Workers): timers do not run between requests. Call ctx.waitUntil(metrics.pushIfDue()) at the end of each request instead");
    }
    if (!this.#core().hasSink) throw new Error(NO_SINK);
    if (options !== undefined && (typeof options !== "object" || options === null)) {
      throw new TypeError(`start: options must be { unref?: boolean }, got ${typeName(options)}`);
    }
    this.stop();
    this.#timer = setInterval(() => this.#tick(), this.#intervalMs);
    if (options?.unref) this.#timer.unref?.();
    this.#tick();
  }

  /** Stops the sends started by start(). */
  stop() {
    if (this.#timer !== null) {
      clearInterval(this.#timer);
      this.#timer = null;
    }
  }

  /** Frees the wasm memory of this instance (stop() first); any later call throws. */
  free() {
    this.stop();
    const box = this.#box;
    const core = box.core;
    if (core === FREED) return;
    box.core = FREED;
    // A later call on a metric object, a child or a text call marks its series again: the mark
    // throws, rather than the call being kept for a render that cannot come.
    box.dirty = FREED;
    for (const metric of this.#metrics.values()) {
      for (const series of metric.series.values()) series.dirty = false;
    }
    for (const text of this.#text) {
      for (const series of text.all()) series.dirty = false;
    }
    core.free();
  }

  [Symbol.dispose ?? Symbol.for("Symbol.dispose")]() {
    this.free();
  }

  // The observer catalogue: its families appear once one of these is called.

  /** One processed event: `events_processed_total` and `event_processing_duration_ms`. (`ok` is
   * accepted for symmetry with actions; the catalogue counts events either way.) */
  recordEvent(durationMs, ok) {
    arg("recordEvent", "durationMs", durationMs, "number");
    if (ok !== undefined) arg("recordEvent", "ok", ok, "boolean");
    this.#core().recordEvent(durationMs);
  }
  /** Sets `events_in_flight`. */
  setEventsInFlight(count) {
    this.#core().setEventsInFlight(arg("setEventsInFlight", "count", count, "number"));
  }
  /** One action: "success", "failure" or "timeout" (a timeout is also a failure). */
  recordAction(outcome, durationMs) {
    const code = choice("recordAction", "outcome", outcome, OUTCOMES);
    this.#core().recordAction(code, arg("recordAction", "durationMs", durationMs, "number"));
  }
  /** A job-queue operation: "enqueued", "processed", "retry" or "deadletter". */
  recordJob(operation) {
    this.#core().recordJob(choice("recordJob", "operation", operation, OPERATIONS));
  }
  /** A result-cache lookup. */
  recordCacheLookup(hit) {
    this.#core().recordCacheLookup(arg("recordCacheLookup", "hit", hit, "boolean"));
  }
  /** Sets `cache_size_bytes`. */
  setCacheSize(bytes) {
    this.#core().setCacheSize(arg("setCacheSize", "bytes", bytes, "number"));
  }
  /** A dedup check. */
  recordDedupCheck(duplicate) {
    this.#core().recordDedupCheck(arg("recordDedupCheck", "duplicate", duplicate, "boolean"));
  }
  /** A saved checkpoint and how long the save took. */
  recordCheckpointSave(durationMs) {
    this.#core().recordCheckpointSave(arg("recordCheckpointSave", "durationMs", durationMs, "number"));
  }
  /** A checkpoint recovered at start. */
  recordCheckpointRecovery() {
    this.#core().recordCheckpointRecovery();
  }
}
