// The JS boundary of the wasm package in Node: every entry point checks its arguments before
// anything crosses into wasm, options are checked at construction under their JS names, and bad
// values are refused rather than coerced. A non-string name used to corrupt wasm memory and,
// repeated, kill Node with SIGSEGV.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { createRequire } from "node:module";
import { startGateway, value } from "./gateway.mjs";

const require = createRequire(import.meta.url);
const { ObserverMetrics } = require("../pkg/npm/node.cjs");

let gw;
before(async () => (gw = await startGateway()));
after(async () => gw && (await gw.stop()));

const sample = (text, series) => {
  const line = text.split("\n").find((l) => l.startsWith(series + " "));
  return line === undefined ? undefined : Number(line.slice(series.length + 1));
};

test("10,000 bad calls mixed with good ones: each throws a TypeError naming the argument, and the values stay exact", async () => {
  const m = new ObserverMetrics({ job: "boundary", pushgatewayUrl: gw.url });
  const bad = [
    [() => m.gauge(1, 1), /gauge: name must be a string, got number/],
    [() => m.counter(null, 1), /counter: name must be a string, got null/],
    [() => m.counter({}, 1), /counter: name must be a string, got object/],
    [() => m.counter("c_total", "1"), /counter: value must be a number, got string/],
    [() => m.counter("c_total", null), /counter: value must be a number, got null/],
    [() => m.counter("c_total", 1, { a: 1 }), /counter: labels\.a must be a string, got number/],
    [() => m.counter("c_total", 1, "a=b"), /counter: labels must be a plain object of strings, got string/],
    [() => m.histogram(Symbol("h"), 1), /histogram: name must be a string, got symbol/],
    [() => m.histogram("h_ms", undefined), /histogram: value must be a number, got undefined/],
    [() => m.recordAction(5, 1), /recordAction: outcome must be a string, got number/],
    [() => m.recordJob({}), /recordJob: operation must be a string, got object/],
    [() => m.recordCacheLookup("yes"), /recordCacheLookup: hit must be a boolean, got string/],
    [() => m.recordEvent("3"), /recordEvent: durationMs must be a number, got string/],
    [() => m.recordEvent(3, "ok"), /recordEvent: ok must be a boolean, got string/],
    [() => m.setCacheSize(10n), /setCacheSize: bytes must be a number, got bigint/],
  ];
  let good = 0;
  for (let i = 0; i < 10000; i++) {
    const [call, message] = bad[i % bad.length];
    assert.throws(call, (e) => e instanceof TypeError && message.test(e.message), `call ${i % bad.length}`);
    if (i % 10 === 0) {
      m.counter("c_total", 1, { k: "v" });
      m.gauge("g", i);
      m.histogram("h_ms", 5);
      m.recordEvent(2, true);
      good++;
    }
  }
  const text = m.render();
  assert.equal(sample(text, 'c_total{k="v"}'), good);
  assert.equal(sample(text, "g"), 9990);
  assert.equal(sample(text, "h_ms_count"), good);
  assert.equal(sample(text, "events_processed_total"), good);
  // The module is intact: it still pushes, and the gateway holds the same values.
  await m.push();
  assert.equal(await value(gw.url, { job: "boundary" }, "events_processed_total"), good);
});

test("numbers that cannot be counted are refused; NaN follows the documented rules", () => {
  const m = new ObserverMetrics({});
  for (const v of [NaN, -1, 1.5, Infinity]) {
    assert.throws(() => m.counter("c_total", v), RangeError, String(v));
  }
  m.gauge("g", NaN);
  m.histogram("h_ms", NaN);
  const text = m.render();
  assert.match(text, /^g NaN$/m);
  assert.equal(sample(text, "h_ms_count"), 0);
  assert.equal(sample(text, 'observer_metrics_dropped_total{reason="nan_observation"}'), 1);
  assert.throws(() => m.recordAction("maybe", 1), RangeError);
});

test("options are checked at construction, under their JS names", () => {
  const push = { job: "j", pushgatewayUrl: gw.url };
  const cases = [
    [{ pushGatewayUrl: gw.url }, Error, /unknown option "pushGatewayUrl"; the options are job, pushgatewayUrl/],
    [{ ...push, headers: { "X-Name": "ünï" } }, Error, /options\.headers\.X-Name = .*printable ASCII/],
    [{ ...push, pushgatewayUrl: `${gw.url}/?a=1` }, Error, /options\.pushgatewayUrl = .*\?query/],
    [{ ...push, pushgatewayUrl: "http://127.0.0.1:99999" }, Error, /options\.pushgatewayUrl = .*not a valid URL/],
    [{ ...push, groupingKey: { "a-b": "x" } }, Error, /options\.groupingKey\.a-b = /],
    [{ ...push, timeoutMs: 2 ** 31 }, Error, /options\.timeoutMs = 2147483648: must be between 1 and 2147483647/],
    [{ ...push, timeoutMs: "5000" }, TypeError, /options\.timeoutMs must be a number, got string/],
    [{ exportIntervalSecs: 2147484 }, Error, /options\.exportIntervalSecs = 2147484: .*24\.8 days/],
    [{ histogramBuckets: [1, "5"] }, TypeError, /options\.histogramBuckets\[1\] must be a number, got string/],
    [{ histogramBuckets: [5, 1] }, Error, /options\.histogramBuckets = .*strictly increasing/],
    [{ sampleRate: 2 }, Error, /options\.sampleRate = 2/],
    [{ globalLabels: { le: "1" } }, Error, /options\.globalLabels\.le = /],
    [{ job: "j" }, Error, /options\.job only applies with pushgatewayUrl/],
    [{ ...push, onError: "log" }, TypeError, /options\.onError must be a function, got string/],
    ["job=j", TypeError, /options must be an object, got string/],
  ];
  for (const [options, type, message] of cases) {
    assert.throws(
      () => new ObserverMetrics(options),
      (e) => e instanceof type && message.test(e.message),
      JSON.stringify(options),
    );
  }
});

test("credentials in the gateway URL work (sent as a Basic header) and never show", async () => {
  const withCredentials = gw.url.replace("http://", "http://user:hunter2@");
  const m = new ObserverMetrics({ job: "credentials", pushgatewayUrl: withCredentials });
  m.recordEvent(1, true);
  await m.push();
  assert.equal(await value(gw.url, { job: "credentials" }, "events_processed_total"), 1);

  const dead = new ObserverMetrics({ job: "credentials", pushgatewayUrl: "http://user:hunter2@127.0.0.1:9", timeoutMs: 500 });
  await assert.rejects(dead.push(), (e) => !e.message.includes("hunter2") && e.message.includes("user:***@127.0.0.1:9"));
  assert.throws(
    () => new ObserverMetrics({ job: "j", pushgatewayUrl: "http://user:hunter2@127.0.0.1:99999" }),
    (e) => !e.message.includes("hunter2") && e.message.includes("options.pushgatewayUrl"),
  );
});

test("failed pushes say why, as far as the runtime tells: refused, unknown host, blocked port, no answer", async () => {
  const { createServer } = await import("node:net");
  const { freePort } = await import("./gateway.mjs");
  // A server that accepts and never answers: a stall a real gateway cannot make.
  const sockets = new Set();
  const stalled = createServer((socket) => sockets.add(socket));
  await new Promise((r) => stalled.listen(0, "127.0.0.1", r));
  const refused = await freePort();
  const cases = [
    [`http://127.0.0.1:${refused}`, /cannot connect: .*ECONNREFUSED/],
    ["http://no-such-gateway.invalid:9091", /cannot connect: .*ENOTFOUND/],
    ["http://127.0.0.1:9", /fetch refuses this port/],
    [`http://127.0.0.1:${stalled.address().port}`, /no answer within 300ms/],
  ];
  try {
    for (const [url, expected] of cases) {
      const m = new ObserverMetrics({ job: "why", pushgatewayUrl: url, timeoutMs: 300 });
      await assert.rejects(m.push(), (e) => e.message.includes(url) && expected.test(e.message), url);
    }
  } finally {
    for (const s of sockets) s.destroy();
    stalled.close();
  }
});
