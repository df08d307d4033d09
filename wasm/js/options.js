// The options of `new ObserverMetrics(options)`, checked here by their JS names, so a mistake
// throws at construction rather than failing every push later, and the messages cost the wasm
// module nothing:
// - an unknown option name (a typo such as `pushGatewayUrl`) lists the known ones;
// - a value of the wrong type is a TypeError naming the option;
// - what the core refuses (a URL with a ?query or a bad port, a header value that is not printable
//   ASCII, a timer past the JS timers' range) is an Error naming the option as JS spells it
//   (`groupingKey`, not `push.grouping`).
import { Core, Settings } from "./observer_metrics_wasm.js";

const NEW = "new ObserverMetrics";

const SINK = ["job", "headers", "timeoutMs", "retry"];
const PUSH = ["groupingKey", "method", "pushgatewayHeaders"];
const WRITE = ["instance", "remoteWriteHeaders", "maxSamplesPerSend"];
const KNOWN = [
  "job", "pushgatewayUrl", "remoteWriteUrl", "instance", "groupingKey", "exportIntervalSecs",
  "histogramBuckets", "sampleRate", "method", "headers", "timeoutMs", "prefix", "globalLabels",
  "onError", "enabled", "histogramBucketsSeconds", "bucketOverrides", "maxSeriesPerMetric",
  "maxLabelValueBytes", "idleTimeoutSecs", "pushgatewayHeaders", "remoteWriteHeaders", "retry", "maxSamplesPerSend",
];
const RETRY = ["tries", "baseBackoffMs", "maxBackoffMs", "jitter"];

/** The core's field names as JS spells them. */
const JS_NAMES = {
  "push.url": "pushgatewayUrl",
  "push.job": "job",
  "push.grouping": "groupingKey",
  "push.headers": "pushgatewayHeaders",
  "push.method": "method",
  "push.timeout_ms": "timeoutMs",
  "push.retry": "retry",
  "remote_write.url": "remoteWriteUrl",
  "remote_write.job": "job",
  "remote_write.instance": "instance",
  "remote_write.headers": "remoteWriteHeaders",
  "remote_write.timeout_ms": "timeoutMs",
  "remote_write.retry": "retry",
  "remote_write.max_samples_per_send": "maxSamplesPerSend",
  histogram_buckets: "histogramBuckets",
  histogram_buckets_seconds: "histogramBucketsSeconds",
  bucket_overrides: "bucketOverrides",
  sample_rate: "sampleRate",
  export_interval_secs: "exportIntervalSecs",
  global_labels: "globalLabels",
  max_series_per_metric: "maxSeriesPerMetric",
  max_label_value_bytes: "maxLabelValueBytes",
  idle_timeout_secs: "idleTimeoutSecs",
};

const RETRY_NAMES = { base_backoff_ms: "baseBackoffMs", max_backoff_ms: "maxBackoffMs" };

/** `typeof value`, with `null` and arrays told apart, for messages. */
export function typeName(value) {
  if (value === null) return "null";
  if (Array.isArray(value)) return "array";
  return typeof value;
}

function typeError(what, expected, value) {
  return new TypeError(`${NEW}: ${what} must be ${expected}, got ${typeName(value)}`);
}

const isObject = (v) => typeof v === "object" && v !== null && !Array.isArray(v);

/** A core config error (`field NUL value NUL reason`), with the option named as JS spells it. */
function configError(e, options) {
  const text = e instanceof Error ? e.message : String(e);
  const [field, value, reason] = text.split("\u0000");
  if (reason === undefined) return e instanceof Error ? e : new Error(text);
  let name = field;
  const parts = field.split(".");
  const sink = parts[0] === "push" || parts[0] === "remote_write";
  const head = sink ? parts.slice(0, 2).join(".") : parts[0];
  const rest = parts.slice(sink ? 2 : 1);
  if (JS_NAMES[head] !== undefined) {
    const tail = head.endsWith("retry") ? rest.map((r) => RETRY_NAMES[r] ?? r) : rest;
    let js = JS_NAMES[head];
    // Both sinks' headers come from `headers` too: name the option the bad header came from.
    if (head.endsWith(".headers") && options[js]?.[tail[0]] === undefined) js = "headers";
    name = [js, ...tail].join(".");
  }
  return new Error(`${NEW}: options.${name} = ${value}: ${reason}`);
}

/** Checks `options` and builds the core (`undefined` or `null` means all defaults). */
export function coreOf(options) {
  if (options === undefined || options === null) options = {};
  else if (!isObject(options)) throw typeError("options", "an object", options);
  for (const key of Object.keys(options)) {
    if (!KNOWN.includes(key)) {
      throw new Error(`${NEW}: unknown option ${JSON.stringify(key)}; the options are ${KNOWN.join(", ")}`);
    }
  }
  const get = (name) => (options[name] === null ? undefined : options[name]);
  const typed = (name, type) => {
    const v = get(name);
    if (v !== undefined && typeof v !== type) throw typeError(`options.${name}`, `a ${type}`, v);
    return v;
  };
  const whole = (name, least, most) => {
    const v = typed(name, "number");
    if (v !== undefined && !(v >= least && v <= most && v % 1 === 0)) {
      throw new RangeError(`${NEW}: options.${name} must be a whole number from ${least} to ${most}, got ${v}`);
    }
    return v ?? NaN;
  };
  const numbers = (what, v) => {
    if (!Array.isArray(v)) throw typeError(what, "an array of numbers", v);
    v.forEach((b, i) => {
      if (typeof b !== "number") throw typeError(`${what}[${i}]`, "a number", b);
    });
    return new Float64Array(v);
  };
  const pairs = (name, v = get(name)) => {
    if (v === undefined) return "";
    if (!isObject(v)) throw typeError(`options.${name}`, "a plain object of strings", v);
    let text = "";
    for (const [k, item] of Object.entries(v)) {
      if (typeof item !== "string") throw typeError(`options.${name}.${k}`, "a string", item);
      text += `${k}\u0000${item}\u0000`;
    }
    return text;
  };
  const given = (name) => get(name) !== undefined;

  const secs = get("exportIntervalSecs");
  if (secs !== undefined && (typeof secs !== "number" || !(secs >= 1 && secs % 1 === 0))) {
    if (typeof secs !== "number") throw typeError("options.exportIntervalSecs", "a number", secs);
    throw new RangeError(`${NEW}: options.exportIntervalSecs must be a whole number of seconds >= 1, got ${secs}`);
  }
  const buckets = given("histogramBuckets") ? numbers("options.histogramBuckets", get("histogramBuckets")) : new Float64Array(0);
  const seconds = given("histogramBucketsSeconds")
    ? numbers("options.histogramBucketsSeconds", get("histogramBucketsSeconds"))
    : new Float64Array(0);
  const settings = new Settings(
    typed("enabled", "boolean") ?? true,
    secs ?? NaN,
    typed("sampleRate", "number") ?? NaN,
    whole("maxSeriesPerMetric", 0, 2 ** 32 - 1),
    whole("maxLabelValueBytes", 0, 2 ** 32 - 1),
    whole("idleTimeoutSecs", 1, 2 ** 32 - 1),
    typed("prefix", "string"),
    pairs("globalLabels"),
    buckets,
    seconds,
  );
  const rules = get("bucketOverrides");
  if (rules !== undefined) {
    if (!isObject(rules)) throw typeError("options.bucketOverrides", "an object of arrays", rules);
    for (const [pattern, bounds] of Object.entries(rules)) {
      settings.bucketRule(pattern, numbers(`options.bucketOverrides[${JSON.stringify(pattern)}]`, bounds));
    }
  }

  const pushUrl = typed("pushgatewayUrl", "string");
  const writeUrl = typed("remoteWriteUrl", "string");
  if (pushUrl === undefined && writeUrl === undefined) {
    const name = [...SINK, ...PUSH, ...WRITE].find(given);
    if (name) throw new Error(`${NEW}: options.${name} only applies with pushgatewayUrl or remoteWriteUrl, and neither is given`);
  } else {
    const job = typed("job", "string");
    if (job === undefined) throw new Error(`${NEW}: options.job is required with pushgatewayUrl or remoteWriteUrl`);
    const timeout = typed("timeoutMs", "number");
    if (timeout !== undefined && !(timeout >= 1 && Number.isFinite(timeout))) {
      throw new RangeError(`${NEW}: options.timeoutMs must be a number of milliseconds >= 1, got ${timeout}`);
    }
    const retry = retryOf(get("retry"));
    const headers = pairs("headers");
    if (pushUrl !== undefined) {
      const method = typed("method", "string");
      if (method !== undefined && method !== "put" && method !== "post") {
        throw new Error(`${NEW}: options.method must be "put" or "post", got ${JSON.stringify(method)}`);
      }
      settings.pushTo(pushUrl, job, pairs("groupingKey"), headers + pairs("pushgatewayHeaders"), method === "post", timeout ?? NaN, retry);
    } else {
      const name = PUSH.find(given);
      if (name) throw new Error(`${NEW}: options.${name} only applies with pushgatewayUrl, which is not given`);
    }
    if (writeUrl !== undefined) {
      const instance = typed("instance", "string");
      const samples = whole("maxSamplesPerSend", 1, 2 ** 32 - 1);
      settings.writeTo(writeUrl, job, instance, headers + pairs("remoteWriteHeaders"), timeout ?? NaN, retry, samples);
    } else {
      const name = WRITE.find(given);
      if (name) throw new Error(`${NEW}: options.${name} only applies with remoteWriteUrl, which is not given`);
    }
  }
  try {
    return new Core(settings);
  } catch (e) {
    throw configError(e, options);
  }
}

/** `options.retry` as `[tries, base, max, jitter]`, or empty for the defaults. */
function retryOf(retry) {
  if (retry === undefined) return new Float64Array(0);
  if (!isObject(retry)) throw typeError("options.retry", "an object", retry);
  const policy = { tries: 3, baseBackoffMs: 200, maxBackoffMs: 5000, jitter: 0.5 };
  for (const [key, v] of Object.entries(retry)) {
    if (!RETRY.includes(key)) {
      throw new Error(`${NEW}: unknown option retry.${key}; the options are ${RETRY.join(", ")}`);
    }
    if (typeof v !== "number") throw typeError(`options.retry.${key}`, "a number", v);
    if (key !== "jitter" && !(v >= 0 && v % 1 === 0 && v < 2 ** 53)) {
      throw new RangeError(`${NEW}: options.retry.${key} must be a whole number >= 0, got ${v}`);
    }
    policy[key] = v;
  }
  return new Float64Array(RETRY.map((k) => policy[k]));
}
