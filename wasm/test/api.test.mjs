// The metric objects (counter, gauge, histogram shaped like prom-client's) and the options that
// shape the recorder, in Node, against a real Pushgateway, a real Prometheus and promtool: what the
// receivers hold is the judge.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { execFileSync, spawn } from "node:child_process";
import { createServer } from "node:http";
import { createRequire } from "node:module";
import { fileURLToPath } from "node:url";
import { startGateway, group, value, sleep } from "./gateway.mjs";
import { startPrometheus } from "./receivers.mjs";

const require = createRequire(import.meta.url);
const pkgPath = fileURLToPath(new URL("../pkg/npm/node.cjs", import.meta.url));
const { ObserverMetrics } = require(pkgPath);

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

const line = (text, prefix) => text.split("\n").find((l) => l.startsWith(`${prefix} `));
const sample = (text, prefix) => Number(line(text, prefix)?.slice(prefix.length + 1));

function promtool(text) {
  try {
    execFileSync("promtool", ["check", "metrics"], { input: text, encoding: "utf8", stdio: "pipe" });
  } catch (e) {
    // Exit 3 is lint only (names promtool would choose otherwise); anything else is a bad body.
    assert.equal(e.status, 3, `promtool rejected the render: ${e.stdout}${e.stderr}`);
  }
}

test("metric objects reach the gateway with their HELP, labels and exact values", async () => {
  const m = new ObserverMetrics({ job: "objects", pushgatewayUrl: gw.url });
  const requests = m.counter({ name: "http_requests_total", help: "Requests served.", labelNames: ["route", "code"] });
  const inFlight = m.gauge({ name: "http_in_flight", help: "Requests being served.", labelNames: ["route"] });
  const latency = m.histogram({ name: "http_request_duration_seconds", help: "Latency.", labelNames: ["route"], buckets: [0.1, 1, 10] });
  const ok = requests.labels("/a", "200");
  for (let i = 0; i < 100000; i++) ok.inc();
  requests.inc({ route: "/a", code: 500 }, 3);
  requests.labels({ route: "/b", code: "200" }).inc(2);
  for (let i = 0; i < 1000; i++) inFlight.inc({ route: "/a" });
  inFlight.dec({ route: "/a" }, 400);
  inFlight.labels("/b").set(7);
  latency.observe({ route: "/a" }, 0.05);
  latency.labels("/a").observe(5);
  const end = latency.startTimer({ route: "/b" });
  const seconds = end();
  assert.ok(seconds >= 0 && seconds < 1, `${seconds}`);
  await m.push();

  const g = await group(gw.url, { job: "objects" });
  const series = (family) => Object.fromEntries(g[family].metrics.map((s) => [JSON.stringify(s.labels), s]));
  assert.equal(g.http_requests_total.help, "Requests served.");
  assert.equal(g.http_request_duration_seconds.help, "Latency.");
  const counts = series("http_requests_total");
  assert.equal(Number(counts['{"code":"200","instance":"","job":"objects","route":"/a"}'].value), 100000);
  assert.equal(Number(counts['{"code":"500","instance":"","job":"objects","route":"/a"}'].value), 3);
  assert.equal(Number(counts['{"code":"200","instance":"","job":"objects","route":"/b"}'].value), 2);
  const gauges = series("http_in_flight");
  assert.equal(Number(gauges['{"instance":"","job":"objects","route":"/a"}'].value), 600);
  assert.equal(Number(gauges['{"instance":"","job":"objects","route":"/b"}'].value), 7);
  const a = series("http_request_duration_seconds")['{"instance":"","job":"objects","route":"/a"}'];
  assert.equal(a.count, "2");
  assert.equal(Number(a.sum), 5.05);
  assert.deepEqual(a.buckets, { "0.1": "1", "1": "1", "10": "2", "+Inf": "2" });
  promtool(m.render());
});

test("a label outside labelNames throws; a name made twice alike is the same object, otherwise it throws", () => {
  const m = new ObserverMetrics();
  const c = m.counter({ name: "jobs_total", help: "Jobs.", labelNames: ["queue"] });
  assert.throws(() => c.inc({ queu: "a" }), /label "queu" is not one of its labelNames \["queue"\]/);
  assert.throws(() => c.labels("a", "b"), /2 label values given for labelNames \["queue"\]/);
  assert.throws(() => m.counter({ name: "two_total", labelNames: ["a", "b"] }).labels("1"), /1 label values given/);
  assert.throws(() => m.counter("text_total", 1, { a: "b\u0000c" }), /label a's value holds a NUL/);
  assert.throws(() => c.inc({ queue: "a" }, -1), RangeError);
  assert.throws(() => c.inc({ queue: "a" }, 0.5), /whole numbers >= 0, got 0.5/);
  assert.throws(() => c.inc({ queue: {} }), /label queue must be a string or a number, got object/);
  assert.equal(m.counter({ name: "jobs_total", help: "Jobs.", labelNames: ["queue"] }), c);
  assert.equal(m.getSingleMetric("jobs_total"), c);
  assert.throws(() => m.gauge({ name: "jobs_total", help: "Jobs.", labelNames: ["queue"] }), /a counter of that name was made already/);
  assert.throws(() => m.counter({ name: "jobs_total", help: "Other." }), /made already with help "Jobs."/);
  assert.throws(() => m.counter({ name: "2bad" }), /name must match/);
  assert.throws(() => m.histogram({ name: "h", labelNames: ["le"] }), /"le" is reserved/);
  assert.throws(() => m.counter({ name: "x_total", labelNames: ["a", "a"] }), /a name twice/);
  // Nothing the refused calls did shows.
  c.inc({ queue: "a" });
  const text = m.render();
  assert.ok(text.includes('# HELP jobs_total Jobs.\n# TYPE jobs_total counter\njobs_total{queue="a"} 1\n'), text);
  assert.ok(!text.includes("text_total"), text);
});

test("collect callbacks and beforeRender run before every render, push, remote write and start() tick", async () => {
  const m = new ObserverMetrics({ job: "collect", pushgatewayUrl: gw.url, remoteWriteUrl: prometheus.writeUrl, instance: "collect-1", exportIntervalSecs: 1 });
  let queue = 0;
  let hooks = 0;
  m.gauge({ name: "queue_depth_now", help: "Jobs waiting.", collect() { this.set(queue); } });
  m.gauge({
    name: "slow_gauge",
    help: "Set after an await.",
    async collect() {
      await sleep(10);
      this.set(queue * 2);
    },
  });
  const remove = m.beforeRender(() => hooks++);
  queue = 3;
  assert.equal(sample(m.render(), "queue_depth_now"), 3);
  queue = 4;
  assert.equal(sample(await m.metrics(), "slow_gauge"), 8, "metrics() waits for an async collect");
  queue = 5;
  await m.push();
  assert.equal(await value(gw.url, { job: "collect" }, "queue_depth_now"), 5);
  assert.equal(await value(gw.url, { job: "collect" }, "slow_gauge"), 10);
  queue = 6;
  await m.remoteWrite();
  assert.equal(await prometheus.scalar('queue_depth_now{job="collect",instance="collect-1"}'), 6);
  queue = 7;
  m.start();
  try {
    const deadline = Date.now() + 10000;
    while ((await value(gw.url, { job: "collect" }, "queue_depth_now")) !== 7) {
      assert.ok(Date.now() < deadline, "no start() tick collected");
      await sleep(50);
    }
  } finally {
    m.stop();
  }
  assert.ok(hooks >= 5, `beforeRender ran ${hooks} times`);
  remove();
  const before = hooks;
  m.render();
  assert.equal(hooks, before, "a removed hook still ran");
});

test("remove(labels) and reset() take series out of the next push; used again, they start from zero", async () => {
  const m = new ObserverMetrics({ job: "remove", pushgatewayUrl: gw.url, maxSeriesPerMetric: 2 });
  const c = m.counter({ name: "tenant_requests_total", help: "By tenant.", labelNames: ["tenant"] });
  const a = c.labels("a");
  a.inc(5);
  c.inc({ tenant: "b" }, 7);
  await m.push();
  c.remove("a");
  await m.push();
  let g = await group(gw.url, { job: "remove" });
  assert.deepEqual(g.tenant_requests_total.metrics.map((s) => [s.labels.tenant, s.value]), [["b", "7"]]);
  // The child outlived its series: it counts from zero in a new one, which takes the freed place
  // under the limit (no overflow series).
  a.inc();
  c.inc({ tenant: "b" });
  await m.push();
  g = await group(gw.url, { job: "remove" });
  assert.deepEqual(g.tenant_requests_total.metrics.map((s) => [s.labels.tenant, s.value]).sort(), [["a", "1"], ["b", "8"]]);
  // A histogram's child too: its observations start a new series after remove().
  const h = m.histogram({ name: "tenant_latency_seconds", help: "By tenant.", labelNames: ["tenant"] });
  const ha = h.labels("a");
  ha.observe(0.2);
  ha.observe(0.3);
  h.remove({ tenant: "a" });
  assert.ok(!m.render().includes('tenant_latency_seconds_count{tenant="a"}'), m.render());
  ha.observe(0.4);
  assert.equal(sample(m.render(), 'tenant_latency_seconds_count{tenant="a"}'), 1);
  c.reset();
  assert.ok(!m.render().includes("tenant_requests_total{"), m.render());
  c.inc({ tenant: "b" });
  assert.equal(sample(m.render(), 'tenant_requests_total{tenant="b"}'), 1, "a label set from before reset() did not start from zero");
  assert.ok(!m.render().includes("otel_metric_overflow"));
  // Without labels a metric shows at zero from the start, and reset() puts it back to zero.
  const plain = m.counter({ name: "plain_total", help: "No labels." });
  assert.equal(sample(m.render(), "plain_total"), 0);
  plain.inc(4);
  plain.reset();
  assert.equal(sample(m.render(), "plain_total"), 0);
});

test("the observer catalogue appears only once used", () => {
  const m = new ObserverMetrics({ job: "lazy", remoteWriteUrl: prometheus.writeUrl });
  m.counter({ name: "app_total", help: "The app's own." }).inc();
  const plain = m.render();
  const families = [...plain.matchAll(/^# TYPE (\S+)/gm)].map((x) => x[1]);
  assert.deepEqual(families.filter((f) => !f.startsWith("observer_metrics_")), ["app_total"]);
  m.recordEvent(3, true);
  const used = m.render();
  assert.equal(sample(used, "events_processed_total"), 1);
  assert.match(used, /^# TYPE action_duration_ms histogram$/m);
});

test("recorder options: bucketOverrides, seconds buckets, the series limit, enabled, idle expiry", async () => {
  const m = new ObserverMetrics({
    bucketOverrides: { "*_bytes": [1024, 65536, 1048576] },
    histogramBucketsSeconds: [0.5, 5],
    maxSeriesPerMetric: 3,
    idleTimeoutSecs: 1,
    globalLabels: { service: "api" },
  });
  m.histogram("response_size_bytes", 2000);
  m.histogram({ name: "job_duration_seconds", help: "Jobs." }).observe(1);
  const c = m.counter({ name: "by_user_total", help: "Per user.", labelNames: ["user"] });
  for (let i = 0; i < 10; i++) c.inc({ user: `u${i}` });
  const text = m.render();
  assert.equal(sample(text, 'response_size_bytes_bucket{service="api",le="1024"}'), 0);
  assert.equal(sample(text, 'response_size_bytes_bucket{service="api",le="65536"}'), 1);
  assert.equal(sample(text, 'job_duration_seconds_bucket{service="api",le="0.5"}'), 0);
  assert.equal(sample(text, 'job_duration_seconds_bucket{service="api",le="5"}'), 1);
  assert.equal(text.match(/^by_user_total\{/gm).length, 4, text);
  assert.equal(sample(text, 'by_user_total{otel_metric_overflow="true",service="api"}'), 7);
  promtool(text);
  // Idle for longer than idleTimeoutSecs: the series leave (checked at each render), and their
  // places under maxSeriesPerMetric are free again, from metric objects and text calls alike.
  m.render();
  await sleep(2200);
  m.render();
  m.render();
  assert.ok(!m.render().includes("by_user_total{user"), m.render());
  for (let i = 10; i < 13; i++) c.inc({ user: `u${i}` });
  for (let i = 0; i < 3; i++) m.counter("by_text_total", 1, { user: `t${i}` });
  let again = m.render();
  assert.equal(again.match(/^by_user_total\{service="api",user=/gm)?.length, 3, again);
  m.render();
  await sleep(2200);
  m.render();
  m.render();
  for (let i = 3; i < 6; i++) m.counter("by_text_total", 1, { user: `t${i}` });
  again = m.render();
  assert.equal(again.match(/^by_text_total\{/gm).length, 3, again);
  assert.ok(!again.includes('by_text_total{otel_metric_overflow="true"'), again);
  const off = new ObserverMetrics({ enabled: false });
  off.counter({ name: "nothing_total", help: "x" }).inc();
  off.recordEvent(1, true);
  assert.equal(off.render(), "");
});

test("pushgatewayHeaders and remoteWriteHeaders go to their own sink, over the shared headers", async () => {
  // A relay in front of the real receivers, to see the headers each request carried.
  const seen = [];
  const relay = createServer(async (req, res) => {
    const chunks = [];
    for await (const chunk of req) chunks.push(chunk);
    seen.push({ path: req.url, team: req.headers["x-team"], sink: req.headers["x-sink"] });
    const target = req.url.startsWith("/api/v1/write") ? prometheus.url : gw.url;
    const headers = Object.fromEntries(["content-type", "content-encoding", "x-prometheus-remote-write-version"].filter((h) => req.headers[h]).map((h) => [h, req.headers[h]]));
    const answer = await fetch(target + req.url, { method: req.method, headers, body: Buffer.concat(chunks) });
    res.writeHead(answer.status).end(Buffer.from(await answer.arrayBuffer()));
  });
  await new Promise((r) => relay.listen(0, "127.0.0.1", r));
  const base = `http://127.0.0.1:${relay.address().port}`;
  try {
    const m = new ObserverMetrics({
      job: "headers",
      pushgatewayUrl: base,
      remoteWriteUrl: `${base}/api/v1/write`,
      instance: "headers-1",
      headers: { "X-Team": "a", "X-Sink": "both" },
      pushgatewayHeaders: { "X-Sink": "gateway" },
      remoteWriteHeaders: { "X-Sink": "remote-write" },
    });
    m.counter({ name: "h_total", help: "x" }).inc();
    await m.push();
    await m.remoteWrite();
    assert.deepEqual(seen.map((s) => [s.path.startsWith("/api/v1/write") ? "write" : "push", s.team, s.sink]), [
      ["push", "a", "gateway"],
      ["write", "a", "remote-write"],
    ]);
    assert.equal(await value(gw.url, { job: "headers" }, "h_total"), 1);
    assert.equal(await prometheus.scalar('h_total{job="headers",instance="headers-1"}'), 1);
  } finally {
    relay.close();
  }
});

test("maxLabelValueBytes cuts a long label value and counts it", () => {
  const m = new ObserverMetrics({ maxLabelValueBytes: 32 });
  const c = m.counter({ name: "cut_total", help: "x", labelNames: ["path"] });
  c.inc({ path: "é".repeat(100) });
  const text = m.render();
  const kept = text.split("\n").find((l) => l.startsWith("cut_total{"));
  const value = /path="([^"]*)"/.exec(kept)[1];
  assert.ok(Buffer.byteLength(value) <= 32 && value.endsWith("…"), kept);
  assert.equal(sample(text, 'observer_metrics_dropped_total{reason="label_too_long"}'), 1);
  promtool(text);
  assert.throws(() => new ObserverMetrics({ maxLabelValueBytes: 8 }), /options\.maxLabelValueBytes = 8: /);
});

test("options errors name the option as JS spells it", () => {
  const push = { job: "j", pushgatewayUrl: gw.url };
  for (const [options, type, message] of [
    [{ ...push, pushgatewayHeaders: { "X-A": "ünï" } }, Error, /options\.pushgatewayHeaders\.X-A = .*printable ASCII/],
    [{ job: "j", remoteWriteUrl: "http://127.0.0.1:9090/api/v1/write", remoteWriteHeaders: { "X-A": "ü" } }, Error, /options\.remoteWriteHeaders\.X-A = /],
    [{ bucketOverrides: { "*_bytes": [5, 1] } }, Error, /options\.bucketOverrides.*strictly increasing/],
    [{ bucketOverrides: { "*_bytes": 1 } }, TypeError, /options\.bucketOverrides\["\*_bytes"\] must be an array of numbers/],
    [{ maxSeriesPerMetric: -1 }, RangeError, /options\.maxSeriesPerMetric must be a whole number from 0/],
    [{ idleTimeoutSecs: 0.5 }, RangeError, /options\.idleTimeoutSecs must be a whole number from 1/],
    [{ enabled: "yes" }, TypeError, /options\.enabled must be a boolean, got string/],
    [{ ...push, retry: { tries: 0 } }, Error, /options\.retry\.tries = 0: must be at least 1/],
    [{ ...push, retry: { tris: 1 } }, Error, /unknown option retry\.tris/],
    [{ remoteWriteHeaders: { a: "b" } }, Error, /options\.remoteWriteHeaders only applies with pushgatewayUrl or remoteWriteUrl/],
    [{ ...push, maxSamplesPerSend: 10 }, Error, /options\.maxSamplesPerSend only applies with remoteWriteUrl/],
  ]) {
    assert.throws(() => new ObserverMetrics(options), (e) => e instanceof type && message.test(e.message), `${JSON.stringify(options)}`);
  }
});

test("after free() every call says the instance was freed", () => {
  const m = new ObserverMetrics();
  const c = m.counter({ name: "freed_total", help: "x", labelNames: ["a"] });
  const child = c.labels("x");
  child.inc();
  m.free();
  const freed = /this ObserverMetrics was freed/;
  assert.throws(() => m.render(), freed);
  assert.throws(() => child.inc(), freed);
  assert.throws(() => c.inc({ a: "y" }), freed);
  assert.throws(() => m.counter("text_total", 1), freed);
  assert.throws(() => m.recordEvent(1), freed);
  m.free(); // twice is fine
});

test("start({ unref: true }) lets Node exit; start() keeps it alive until stop()", async () => {
  const run = (script) =>
    new Promise((resolve) => {
      const child = spawn(process.execPath, ["-e", `const { ObserverMetrics } = require(${JSON.stringify(pkgPath)});\n${script}`], { stdio: "ignore" });
      const timer = setTimeout(() => child.kill(), 3000);
      child.once("exit", (code, signal) => {
        clearTimeout(timer);
        resolve(signal ?? code);
      });
    });
  const options = `{ job: "unref", pushgatewayUrl: ${JSON.stringify(gw.url)}, exportIntervalSecs: 60 }`;
  assert.equal(await run(`new ObserverMetrics(${options}).start({ unref: true });`), 0);
  assert.equal(await run(`new ObserverMetrics(${options}).start();`), "SIGTERM", "a started instance let the process exit");
});
