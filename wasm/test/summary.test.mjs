// Summaries in the npm package, shaped like prom-client's: quantiles within the sketch's 1% of
// the exact ones, the rolling window, and what a real Pushgateway, a real Prometheus (by remote
// write) and promtool make of them.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { createRequire } from "node:module";
import { fileURLToPath } from "node:url";
import { startGateway, group } from "./gateway.mjs";
import { startPrometheus } from "./receivers.mjs";

const require = createRequire(import.meta.url);
const { ObserverMetrics } = require(fileURLToPath(new URL("../pkg/npm/node.cjs", import.meta.url)));
const promClient = require("prom-client");

let gw;
let prometheus;
before(async () => {
  gw = await startGateway();
  prometheus = await startPrometheus();
});
after(async () => {
  await gw?.stop();
  await prometheus?.stop();
});

/** The rendered value of `prefix` (the series' name and labels as rendered). */
function sample(text, prefix) {
  const line = text.split("\n").find((l) => l.startsWith(`${prefix} `));
  assert.ok(line, `no line ${prefix} in\n${text}`);
  return Number(line.slice(prefix.length + 1));
}

/** The exact quantile as a sketch of ranks defines it: the value at rank q * (n - 1), rounded
 * down. */
function exact(sorted, q) {
  return sorted[Math.floor(q * (sorted.length - 1))];
}

/** A deterministic stream of latencies across five decades (xorshift). */
function latencies(n, seed = 7) {
  let x = seed;
  const out = [];
  for (let i = 0; i < n; i++) {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    out.push(10 ** (((x >>> 0) / 2 ** 32) * 5 - 4));
  }
  return out;
}

test("quantiles are within 1% of the exact ones; 0 and 1 are the exact least and greatest", () => {
  const m = new ObserverMetrics({});
  const percentiles = [0, 0.01, 0.05, 0.5, 0.9, 0.95, 0.99, 0.999, 1];
  const s = m.summary({ name: "rpc_seconds", help: "RPC latency.", labelNames: ["method"], percentiles });
  const values = latencies(100000);
  const child = s.labels("get");
  for (const v of values) child.observe(v);
  // Negative values and zero have their own bins.
  for (const v of [-5, -0.5, 0, 0, 0.5, 5]) s.observe({ method: "mixed" }, v);
  const text = m.render();
  const sorted = [...values].sort((a, b) => a - b);
  for (const q of percentiles) {
    const got = sample(text, `rpc_seconds{method="get",quantile="${q}"}`);
    const want = q === 0 ? sorted[0] : q === 1 ? sorted.at(-1) : exact(sorted, q);
    if (q === 0 || q === 1) assert.equal(got, want, `q=${q}`);
    else assert.ok(Math.abs(got / want - 1) <= 0.01, `q=${q}: ${got} vs ${want}`);
  }
  assert.equal(sample(text, 'rpc_seconds_count{method="get"}'), 100000);
  const sum = values.reduce((a, b) => a + b, 0);
  assert.ok(Math.abs(sample(text, 'rpc_seconds_sum{method="get"}') / sum - 1) < 1e-12);
  const mixed = [-5, -0.5, 0, 0, 0.5, 5];
  for (const q of percentiles) {
    const got = sample(text, `rpc_seconds{method="mixed",quantile="${q}"}`);
    const want = exact(mixed, q);
    if (want === 0) assert.equal(got, 0, `q=${q}`);
    else assert.ok(Math.abs(got / want - 1) <= 0.01, `q=${q}: ${got} vs ${want}`);
  }
  assert.match(text, /^# TYPE rpc_seconds summary$/m);
  assert.match(text, /^# HELP rpc_seconds RPC latency\.$/m);
  m.free();
});

test("maxAgeSeconds and ageBuckets: observations leave the quantiles a window later; _count and _sum stay", (t) => {
  let now = 1_700_000_000_000;
  t.mock.method(performance, "now", () => now);
  const m = new ObserverMetrics({});
  const s = m.summary({ name: "window_seconds", percentiles: [0.5, 1], maxAgeSeconds: 60, ageBuckets: 3 });
  s.observe(1);
  assert.equal(sample(m.render(), 'window_seconds{quantile="1"}'), 1);
  now += 25_000;
  s.observe(2);
  let text = m.render();
  assert.equal(sample(text, 'window_seconds{quantile="1"}'), 2);
  assert.equal(sample(text, 'window_seconds{quantile="0.5"}'), 1);
  // 61 s after the first: its slot has ended, the second's has not.
  now += 36_000;
  text = m.render();
  assert.equal(sample(text, 'window_seconds{quantile="0.5"}'), 2);
  // A whole window after the last: empty, so NaN, as client_golang renders it; the lifetime
  // count and sum are kept.
  now += 61_000;
  text = m.render();
  assert.ok(Number.isNaN(sample(text, 'window_seconds{quantile="0.5"}')), text);
  assert.equal(sample(text, "window_seconds_count"), 2);
  assert.equal(sample(text, "window_seconds_sum"), 3);
  m.free();
});

test("observations made between renders a window apart are in the next render, not lost to the roll", (t) => {
  let now = 1_700_000_000_000;
  t.mock.method(performance, "now", () => now);
  const m = new ObserverMetrics({});
  const s = m.summary({ name: "gap_seconds", percentiles: [1], maxAgeSeconds: 60, ageBuckets: 3 });
  for (let round = 1; round <= 3; round++) {
    now += 60_000;
    s.observe(round);
    assert.equal(sample(m.render(), 'gap_seconds{quantile="1"}'), round);
  }
  m.free();
});

test("an observation a render comes long after has left the window by then", (t) => {
  let now = 1_700_000_000_000;
  t.mock.method(performance, "now", () => now);
  const m = new ObserverMetrics({});
  const s = m.summary({ name: "late_seconds", percentiles: [0.5], maxAgeSeconds: 10, ageBuckets: 2, pruneAgedBuckets: false });
  s.observe(7);
  now += 3_600_000;
  s.observe(9);
  // The hour-old observation is gone, though no render came between: each is filed by its time.
  assert.equal(sample(m.render(), 'late_seconds{quantile="0.5"}'), 9);
  now += 11_000;
  assert.ok(Number.isNaN(sample(m.render(), 'late_seconds{quantile="0.5"}')));
  // maxAgeSeconds without ageBuckets: five slots (prom-client 15 would ignore maxAgeSeconds).
  const five = m.summary({ name: "five_seconds", percentiles: [1], maxAgeSeconds: 10 });
  five.observe(1);
  now += 8_500;
  five.observe(2);
  now += 2_000;
  assert.equal(sample(m.render(), 'five_seconds{quantile="1"}'), 2, "the first left after 10 s, in 2 s slots");
  m.free();
});

test("past maxSeriesPerMetric the overflow series holds every folded label set, merged", () => {
  const m = new ObserverMetrics({ maxSeriesPerMetric: 1 });
  const s = m.summary({ name: "wide_seconds", labelNames: ["id"], percentiles: [0, 1] });
  s.observe({ id: "a" }, 1);
  for (const [id, values] of [["b", [5, 6, 7, 8, 9]], ["c", [2, 3, 4]]]) {
    for (const v of values) s.observe({ id }, v);
  }
  for (let round = 0; round < 2; round++) {
    const text = m.render();
    assert.equal(sample(text, 'wide_seconds_count{id="a"}'), 1);
    assert.equal(sample(text, 'wide_seconds_count{otel_metric_overflow="true"}'), 8, text);
    assert.equal(sample(text, 'wide_seconds_sum{otel_metric_overflow="true"}'), 44, text);
    assert.equal(sample(text, 'wide_seconds{otel_metric_overflow="true",quantile="0"}'), 2, text);
    assert.equal(sample(text, 'wide_seconds{otel_metric_overflow="true",quantile="1"}'), 9, text);
  }
  m.free();
});

test("with idleTimeoutSecs a summary observed on every render stays; one left alone leaves", async () => {
  const m = new ObserverMetrics({ idleTimeoutSecs: 1 });
  const s = m.summary({ name: "busy_seconds", labelNames: ["k"], percentiles: [0.5] });
  s.observe({ k: "idle" }, 1);
  let text = "";
  for (let i = 0; i < 6; i++) {
    await new Promise((r) => setTimeout(r, 500));
    s.observe({ k: "busy" }, i);
    text = m.render();
  }
  assert.equal(sample(text, 'busy_seconds_count{k="busy"}'), 6, text);
  assert.ok(!text.includes('k="idle"'), text);
  m.free();
});

test("pruneAgedBuckets: a series whose window emptied leaves the render, and counts from zero when used again", (t) => {
  let now = 1_700_000_000_000;
  t.mock.method(performance, "now", () => now);
  const m = new ObserverMetrics({});
  const s = m.summary({ name: "pruned_seconds", labelNames: ["k"], percentiles: [0.5], maxAgeSeconds: 10, ageBuckets: 2, pruneAgedBuckets: true });
  s.observe({ k: "a" }, 4);
  s.observe({ k: "b" }, 5);
  assert.equal(sample(m.render(), 'pruned_seconds_count{k="a"}'), 1);
  now += 6_000;
  s.observe({ k: "b" }, 6);
  m.render();
  now += 6_000;
  const text = m.render();
  assert.ok(!text.includes('k="a"'), text);
  assert.equal(sample(text, 'pruned_seconds_count{k="b"}'), 2);
  s.observe({ k: "a" }, 7);
  assert.equal(sample(m.render(), 'pruned_seconds_count{k="a"}'), 1);
  m.free();
});

test("summary arguments: prom-client's shape, and errors that name the argument", () => {
  const m = new ObserverMetrics({});
  const s = m.summary({ name: "ok_seconds", labelNames: ["a"] });
  assert.equal(m.summary({ name: "ok_seconds", labelNames: ["a"] }), s, "made alike twice: the same object");
  assert.equal(m.getSingleMetric("ok_seconds"), s);
  assert.deepEqual(s.percentiles, [0.01, 0.05, 0.5, 0.9, 0.95, 0.99, 0.999], "prom-client's default");
  assert.throws(() => m.summary({ name: "ok_seconds", labelNames: ["a"], percentiles: [0.5] }), /a summary of that name was made already/);
  assert.throws(() => m.summary({ name: "q_seconds", labelNames: ["quantile"] }), /"quantile" is reserved/);
  assert.throws(() => m.summary({ name: "p_seconds", percentiles: [0.9, 0.5] }), /summary\("p_seconds"\)\.percentiles: .*strictly increasing/);
  assert.throws(() => m.summary({ name: "p2_seconds", percentiles: [1.5] }), /between 0 and 1/);
  assert.throws(() => m.summary({ name: "a_seconds", maxAgeSeconds: 0 }), /maxAgeSeconds must be/);
  assert.throws(() => m.summary({ name: "b_seconds", maxAgeSeconds: 60, ageBuckets: 1.5 }), /ageBuckets must be/);
  assert.throws(() => m.summary("text_seconds", 1), /summaries have no text call/);
  assert.throws(() => s.observe({ a: "x" }, Infinity), { name: "TypeError", message: /finite numbers only/ });
  assert.throws(() => s.observe({ a: "x" }, "1"), TypeError);
  assert.throws(() => s.observe({ b: "x" }, 1), /label "b" is not one of its labelNames/);
  m.histogram({ name: "h_seconds" }).observe(1);
  assert.throws(() => m.summary({ name: "h_seconds" }), /a histogram of that name was made already/);
  // A text call recorded the family as a histogram; the catalogue records into the core itself,
  // which keeps the shape of what recorded first.
  m.histogram("t_seconds", 1);
  assert.throws(() => m.summary({ name: "t_seconds" }), /summary\("t_seconds"\): a histogram of that name was recorded by a text call/);
  m.recordEvent(3);
  assert.throws(() => m.summary({ name: "event_processing_duration_ms" }), /a histogram or summary of that name recorded before/);
  // And the other way: a text call cannot record into a summary's family.
  assert.throws(() => m.histogram("ok_seconds", 1, { a: "x" }), /histogram\("ok_seconds"\): a summary of that name was made already/);
  // A counter's name is not a summary's either.
  m.counter("c_seconds", 1);
  assert.throws(() => m.summary({ name: "c_seconds" }), /summary\("c_seconds"\): a counter of that name was recorded by a text call/);
  // A timer observes the seconds elapsed.
  const end = s.startTimer({ a: "t" });
  const seconds = end();
  assert.ok(seconds >= 0 && seconds < 1);
  assert.equal(sample(m.render(), 'ok_seconds_count{a="t"}'), 1);
  s.remove("t");
  assert.ok(!m.render().includes('a="t"'));
  m.free();
  assert.throws(() => s.observe({ a: "x" }, 1), /was freed/);
});

test("the gateway takes a summary push whole; Prometheus gets each quantile series by remote write", async () => {
  const m = new ObserverMetrics({ job: "summaries", pushgatewayUrl: gw.url, remoteWriteUrl: prometheus.writeUrl, instance: "summary-1" });
  const s = m.summary({ name: "request_latency_seconds", help: "Request latency.", labelNames: ["route"], percentiles: [0.5, 0.99], maxAgeSeconds: 60, ageBuckets: 3 });
  for (let i = 1; i <= 1000; i++) s.observe({ route: "/a" }, i / 1000);
  m.counter({ name: "requests_total" }).inc(1000);
  const text = m.render();
  try {
    execFileSync("promtool", ["check", "metrics"], { input: text, encoding: "utf8", stdio: "pipe" });
  } catch (e) {
    // Exit 3 is lint only; anything else is a bad body.
    assert.equal(e.status, 3, `promtool rejected the render: ${e.stdout}${e.stderr}`);
  }
  await m.push();
  const g = await group(gw.url, { job: "summaries" });
  const family = g.request_latency_seconds;
  assert.equal(family.type, "SUMMARY");
  assert.equal(family.help, "Request latency.");
  const [series] = family.metrics;
  assert.equal(series.count, "1000");
  assert.equal(Number(series.sum), 500.5);
  assert.ok(Math.abs(Number(series.quantiles["0.5"]) / 0.5 - 1) <= 0.01, JSON.stringify(series.quantiles));
  assert.ok(Math.abs(Number(series.quantiles["0.99"]) / 0.99 - 1) <= 0.01, JSON.stringify(series.quantiles));
  assert.equal(Number(g.requests_total.metrics[0].value), 1000, "the rest of the push is there too");

  await m.remoteWrite();
  const q = (expr) => prometheus.scalar(expr);
  const p99 = await q('request_latency_seconds{job="summaries",instance="summary-1",route="/a",quantile="0.99"}');
  assert.ok(Math.abs(p99 / 0.99 - 1) <= 0.01, `${p99}`);
  assert.equal(await q('request_latency_seconds_count{job="summaries",instance="summary-1"}'), 1000);
  assert.equal(await q('request_latency_seconds_sum{job="summaries",instance="summary-1"}'), 500.5);
  m.free();
});

test("prom-client's summary and ours agree on count and sum, and on quantiles to the sketch's error", async () => {
  const registry = new promClient.Registry();
  const theirs = new promClient.Summary({ name: "agree_seconds", help: "h", percentiles: [0.5, 0.9, 0.99], registers: [registry] });
  const m = new ObserverMetrics({});
  const ours = m.summary({ name: "agree_seconds", help: "h", percentiles: [0.5, 0.9, 0.99] });
  const values = latencies(20000, 11);
  for (const v of values) {
    theirs.observe(v);
    ours.observe(v);
  }
  const [mine, prom] = [m.render(), await registry.metrics()];
  assert.equal(sample(mine, "agree_seconds_count"), sample(prom, "agree_seconds_count"));
  assert.ok(Math.abs(sample(mine, "agree_seconds_sum") / sample(prom, "agree_seconds_sum") - 1) < 1e-9);
  for (const q of [0.5, 0.9, 0.99]) {
    const a = sample(mine, `agree_seconds{quantile="${q}"}`);
    const b = sample(prom, `agree_seconds{quantile="${q}"}`);
    // t-digest interpolates, the sketch does not: both are near the truth, so near each other.
    assert.ok(Math.abs(a / b - 1) <= 0.03, `q=${q}: ours ${a}, prom-client ${b}`);
  }
  m.free();
});
