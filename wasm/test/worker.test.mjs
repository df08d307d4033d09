// The web package (wasm/pkg/web) in Cloudflare's workerd, driven by miniflare: a module worker
// records the catalogue on each request and pushes with pushIfDue() inside waitUntil() to a real
// Pushgateway on loopback. The gateway's view must hold the requests' totals.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { Miniflare } from "miniflare";
import { startGateway, value, sleep } from "./gateway.mjs";
import { startPrometheus } from "./receivers.mjs";

const pkg = new URL("../pkg/web/", import.meta.url);

const worker = `
import wasmModule from "./observer_metrics_wasm_bg.wasm";
import { initSync, ObserverMetrics } from "./observer_metrics_wasm.js";

initSync({ module: wasmModule });
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
    modules: [
      { type: "ESModule", path: "worker.mjs", contents: worker },
      { type: "ESModule", path: "observer_metrics_wasm.js", contents: readFileSync(new URL("observer_metrics_wasm.js", pkg), "utf8") },
      { type: "CompiledWasm", path: "observer_metrics_wasm_bg.wasm", contents: readFileSync(new URL("observer_metrics_wasm_bg.wasm", pkg)) },
    ],
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
  const queries = ["", "?hit", "?hit&dup", "?outcome=failure", "?outcome=timeout&hit"];
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
  // The same pushIfDue() wrote to Prometheus too, under the worker's generated instance.
  const written = 'sum(last_over_time(events_processed_total{job="edge-worker"}[1h]))';
  while ((await prometheus.scalar(written)) !== 21) {
    assert.ok(Date.now() < deadline, "Prometheus never held the 21 requests");
    await sleep(100);
  }
});
