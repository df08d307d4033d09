// The web package (wasm/pkg/web) in Cloudflare's workerd, driven by miniflare: a module worker
// records the catalogue on each request and pushes with pushIfDue() inside waitUntil() to a real
// Pushgateway on loopback. The gateway's view must hold the requests' totals.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { Miniflare } from "miniflare";
import { startGateway, group, value, sleep } from "./gateway.mjs";
import { startPrometheus } from "./receivers.mjs";

const pkg = new URL("../pkg/npm/", import.meta.url);

// The package's workerd entry and the files it imports, as wrangler bundles them.
const packageModules = () => [
  ...["workerd.mjs", "api.js", "sketch.js", "options.js", "runtime.js", "observer_metrics_wasm.js"].map((path) => ({
    type: "ESModule",
    path,
    contents: readFileSync(new URL(path, pkg), "utf8"),
  })),
  { type: "CompiledWasm", path: "observer_metrics_wasm_bg.wasm", contents: readFileSync(new URL("observer_metrics_wasm_bg.wasm", pkg)) },
];

const worker = `
import { ObserverMetrics } from "./workerd.mjs";

let metrics;

export default {
  async fetch(request, env, ctx) {
    metrics ??= new ObserverMetrics({
      job: "edge-worker",
      pushgatewayUrl: env.GATEWAY,
      groupingKey: { colo: "test/1 a" },
      remoteWriteUrl: env.REMOTE_WRITE,
      exportIntervalSecs: 1,
    });
    const url = new URL(request.url);
    metrics.recordDedupCheck(url.searchParams.has("dup"));
    metrics.recordCacheLookup(url.searchParams.has("hit"));
    metrics.recordAction(url.searchParams.get("outcome") ?? "success", 3);
    metrics.recordEvent(1, true);
    // A summary, as prom-client's, over a 60 s window: its sketch lives in the isolate.
    metrics.summary({ name: "worker_latency_seconds", help: "Latency.", percentiles: [0.5, 1], maxAgeSeconds: 60, ageBuckets: 3 })
      .observe(Number(url.searchParams.get("ms") ?? 1) / 1000);
    ctx.waitUntil(metrics.pushIfDue().catch((e) => console.error(e.message)));
    return new Response(metrics.render(), { headers: { "content-type": "text/plain" } });
  },
};
`;

let gw;
let prometheus;
let mf;
before(async () => {
  gw = await startGateway();
  prometheus = await startPrometheus();
  mf = new Miniflare({
    modules: [{ type: "ESModule", path: "worker.mjs", contents: worker }, ...packageModules()],
    bindings: { GATEWAY: gw.url, REMOTE_WRITE: prometheus.writeUrl },
    compatibilityDate: "2024-09-23",
  });
});
after(async () => {
  await mf?.dispose();
  await gw?.stop();
  await prometheus?.stop();
});

test("a worker's requests reach the gateway through pushIfDue in waitUntil", async () => {
  const queries = ["?ms=1", "?hit&ms=2", "?hit&dup&ms=3", "?outcome=failure&ms=4", "?outcome=timeout&hit&ms=5"];
  for (let i = 0; i < 20; i++) {
    const res = await mf.dispatchFetch(`http://localhost/${queries[i % queries.length]}`);
    assert.equal(res.status, 200);
    await res.text();
  }
  // The first request pushed; the rest came within the interval. One more after it passes
  // pushes the totals.
  await sleep(1200);
  const last = await mf.dispatchFetch("http://localhost/?hit");
  assert.match(await last.text(), /^events_processed_total 21$/m);

  const labels = { job: "edge-worker", colo: "test/1 a" };
  const deadline = Date.now() + 15000;
  while ((await value(gw.url, labels, "events_processed_total")) !== 21) {
    assert.ok(Date.now() < deadline, "the gateway never held the 21 requests");
    await sleep(100);
  }
  assert.equal(await value(gw.url, labels, "actions_executed_total"), 21);
  assert.equal(await value(gw.url, labels, "action_failure_total"), 8);
  assert.equal(await value(gw.url, labels, "action_timeout_total"), 4);
  assert.equal(await value(gw.url, labels, "cache_hits_total"), 13);
  assert.equal(await value(gw.url, labels, "dedup_duplicates_found_total"), 4);
  // The summary: 21 observations (four each of 1..5 ms, and the last request's 1 ms).
  const summary = (await group(gw.url, labels)).worker_latency_seconds;
  assert.equal(summary.type, "SUMMARY");
  assert.equal(summary.metrics[0].count, "21");
  assert.ok(Math.abs(Number(summary.metrics[0].sum) - 0.061) < 1e-9, summary.metrics[0].sum);
  assert.equal(Number(summary.metrics[0].quantiles["1"]), 0.005);
  assert.ok(Math.abs(Number(summary.metrics[0].quantiles["0.5"]) / 0.003 - 1) <= 0.01, JSON.stringify(summary.metrics[0].quantiles));
  // The same pushIfDue() wrote to Prometheus too, under the worker's generated instance.
  const written = 'sum(last_over_time(events_processed_total{job="edge-worker"}[1h]))';
  while ((await prometheus.scalar(written)) !== 21) {
    assert.ok(Date.now() < deadline, "Prometheus never held the 21 requests");
    await sleep(100);
  }
});

// A worker that makes the slips users make: a push without waitUntil (its I/O is cancelled when
// the response goes, and its promise never settles), and start(), which cannot work where timers
// run only inside requests. Later requests' pushes must still go out, and the gateway must end up
// with the exact totals.
const slips = `
import { ObserverMetrics } from "./workerd.mjs";

let metrics;
const requests = () => metrics.counter({ name: "worker_requests_total", help: "Requests served." });

export default {
  async fetch(request, env, ctx) {
    metrics ??= new ObserverMetrics({ job: "edge-slips", pushgatewayUrl: env.GATEWAY, timeoutMs: 1000, exportIntervalSecs: 1 });
    requests().inc();
    const path = new URL(request.url).pathname;
    if (path === "/forget") {
      // The slip: no waitUntil. The response goes at once, and the push's I/O with it.
      metrics.pushIfDue();
      return new Response("forgot");
    }
    if (path === "/start") {
      try {
        metrics.start();
        return new Response("started");
      } catch (e) {
        return new Response(e.message, { status: 500 });
      }
    }
    // Awaited: the request waits for its push and says how it ended.
    const started = Date.now();
    try {
      await metrics.push();
      return new Response(\`pushed in \${Date.now() - started} ms\`);
    } catch (e) {
      return new Response(\`failed after \${Date.now() - started} ms: \${e.message}\`, { status: 502 });
    }
  },
};
`;

test("a push whose request ended never blocks a later one; start() throws, naming pushIfDue", async () => {
  const mf2 = new Miniflare({
    modules: [{ type: "ESModule", path: "worker.mjs", contents: slips }, ...packageModules()],
    bindings: { GATEWAY: gw.url },
    compatibilityDate: "2024-09-23",
  });
  try {
    const forgot = await mf2.dispatchFetch("http://localhost/forget");
    assert.equal(await forgot.text(), "forgot");
    const start = await mf2.dispatchFetch("http://localhost/start");
    assert.equal(start.status, 500);
    assert.match(await start.text(), /start\(\) cannot work in workerd.*pushIfDue\(\)/);
    // Each later request's push settles within its own deadline (1 s an attempt, and the grace a
    // cancelled holder is given), however the earlier ones ended.
    for (let i = 0; i < 3; i++) {
      const res = await Promise.race([
        mf2.dispatchFetch("http://localhost/push"),
        sleep(8000).then(() => null),
      ]);
      assert.ok(res !== null, `request ${i + 3}'s push still pending after 8 s`);
      const text = await res.text();
      assert.equal(res.status, 200, text);
      assert.match(text, /^pushed in \d+ ms$/);
    }
    // Five requests, all counted: the last push carries the exact total.
    assert.equal(await value(gw.url, { job: "edge-slips" }, "worker_requests_total"), 5);
  } finally {
    await mf2.dispose();
  }
});
