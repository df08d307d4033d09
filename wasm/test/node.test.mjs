// The Node package (wasm/pkg/node) against a real Pushgateway on loopback.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { createRequire } from "node:module";
import { startGateway, group, value, freePort, sleep } from "./gateway.mjs";

const require = createRequire(import.meta.url);
const { ObserverMetrics } = require("../pkg/npm/node.cjs");

let gw;
before(async () => (gw = await startGateway()));
after(async () => gw && (await gw.stop()));

test("pushes the catalogue and custom metrics; the gateway holds the values", async () => {
  const m = new ObserverMetrics({ job: "node", pushgatewayUrl: gw.url, groupingKey: { instance: "n1" } });
  for (let i = 0; i < 10; i++) m.recordEvent(i, true);
  m.recordAction("success", 5);
  m.recordAction("failure", 7);
  m.recordAction("timeout", 9);
  m.recordCacheLookup(true);
  m.recordCacheLookup(true);
  m.recordCacheLookup(false);
  m.counter("edge_requests_total", 4, { colo: "ams" });
  await m.push();
  const labels = { job: "node", instance: "n1" };
  assert.equal(await value(gw.url, labels, "events_processed_total"), 10);
  assert.equal(await value(gw.url, labels, "actions_executed_total"), 3);
  assert.equal(await value(gw.url, labels, "action_timeout_total"), 1);
  assert.equal(await value(gw.url, labels, "edge_requests_total"), 4);
  const rate = await value(gw.url, labels, "cache_hit_rate");
  assert.ok(Math.abs(rate - 200 / 3) < 1e-9, `${rate}`);
  const g = await group(gw.url, labels);
  assert.equal(g.event_processing_duration_ms.metrics[0].count, "10");
});

test("grouping values with a slash and a space arrive intact", async () => {
  const m = new ObserverMetrics({ job: "node/slash job", pushgatewayUrl: gw.url, groupingKey: { path: "a/b c", empty: "" } });
  m.recordEvent(1, true);
  await m.push();
  assert.equal(await value(gw.url, { job: "node/slash job", path: "a/b c", empty: "" }, "events_processed_total"), 1);
});

test("pushAdd replaces only the pushed names; deleteGroup removes the group", async () => {
  const labels = { job: "node-post" };
  await fetch(`${gw.url}/metrics/job/node-post`, { method: "PUT", body: "# TYPE other_total counter\nother_total 7\n" });
  const m = new ObserverMetrics({ job: "node-post", pushgatewayUrl: gw.url, method: "post" });
  m.recordEvent(1, true);
  await m.pushAdd();
  assert.equal(await value(gw.url, labels, "other_total"), 7);
  assert.equal(await value(gw.url, labels, "events_processed_total"), 1);
  await m.deleteGroup();
  assert.equal(await group(gw.url, labels), undefined);
});

test("pushIfDue honours exportIntervalSecs", async () => {
  const labels = { job: "node-due" };
  const m = new ObserverMetrics({ job: "node-due", pushgatewayUrl: gw.url, exportIntervalSecs: 1 });
  m.recordEvent(1, true);
  assert.equal(await m.pushIfDue(), true);
  m.recordEvent(1, true);
  assert.equal(await m.pushIfDue(), false);
  assert.equal(await value(gw.url, labels, "events_processed_total"), 1);
  await sleep(1100);
  assert.equal(await m.pushIfDue(), true);
  assert.equal(await value(gw.url, labels, "events_processed_total"), 2);
});

test("a dead gateway rejects with its address and the totals survive for the next push", async () => {
  const port = await freePort();
  const url = `http://127.0.0.1:${port}`;
  const m = new ObserverMetrics({ job: "node-dead", pushgatewayUrl: url, timeoutMs: 2000 });
  m.recordEvent(1, true);
  await assert.rejects(m.push(), (e) => e instanceof Error && e.message.includes(url) && e.message.includes("cannot connect"));
  m.recordEvent(1, true);
  // The gateway comes up where the job expected it: the next push carries both events.
  const { spawn } = await import("node:child_process");
  const child = spawn("prometheus-pushgateway", [`--web.listen-address=127.0.0.1:${port}`, "--persistence.file="], { stdio: "ignore" });
  try {
    const deadline = Date.now() + 15000;
    for (;;) {
      try {
        if ((await fetch(`${url}/-/ready`)).ok) break;
      } catch {}
      assert.ok(Date.now() < deadline, "gateway did not start");
      await sleep(50);
    }
    await m.push();
    assert.equal(await value(url, { job: "node-dead" }, "events_processed_total"), 2);
  } finally {
    child.kill();
  }
});

test("start() pushes on an interval until stop()", async () => {
  const labels = { job: "node-timer" };
  const m = new ObserverMetrics({ job: "node-timer", pushgatewayUrl: gw.url, exportIntervalSecs: 1 });
  m.recordEvent(1, true);
  m.start();
  try {
    const deadline = Date.now() + 10000;
    while ((await value(gw.url, labels, "events_processed_total")) !== 1) {
      assert.ok(Date.now() < deadline, "no interval push within 10 s");
      await sleep(100);
    }
  } finally {
    m.stop();
  }
});
