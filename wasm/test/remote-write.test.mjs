// Remote write from the wasm package in Node against a real Prometheus: hundreds of instances,
// each writing once and ending, give an exact total; pushIfDue() serves both sinks.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { createRequire } from "node:module";
import { startGateway, value } from "./gateway.mjs";
import { startPrometheus } from "./receivers.mjs";

const require = createRequire(import.meta.url);
const { ObserverMetrics } = require("../pkg/npm/node.cjs");

let prometheus;
let gw;
before(async () => {
  prometheus = await startPrometheus();
  gw = await startGateway();
});
after(async () => {
  await prometheus?.stop();
  await gw?.stop();
});

test("300 wasm instances, each writing once and ending: 300 series, the exact total, each from 0", async () => {
  const instances = 300;
  let total = 0;
  const work = [];
  for (let i = 0; i < instances; i++) {
    const m = new ObserverMetrics({ job: "wasm-scale", remoteWriteUrl: prometheus.writeUrl });
    const events = 1 + (i % 5);
    total += events;
    for (let e = 0; e < events; e++) m.recordEvent(2, true);
    work.push(m.remoteWrite().then(() => m.end()));
    if (work.length === 25) await Promise.all(work.splice(0));
  }
  await Promise.all(work);
  const series = 'events_processed_total{job="wasm-scale"}';
  assert.equal(await prometheus.scalar(`count(last_over_time(${series}[1h]))`), instances);
  assert.equal(await prometheus.scalar(`sum(last_over_time(${series}[1h]))`), total);
  assert.equal(await prometheus.scalar(`count(min_over_time(${series}[1h]) == 0)`), instances);
  // Ended: none is left for an instant query.
  assert.equal(await prometheus.scalar(`count(${series})`), undefined);
});

test("pushIfDue() and end() serve both sinks; the instance is generated unless given", async () => {
  const m = new ObserverMetrics({ job: "both-sinks", pushgatewayUrl: gw.url, remoteWriteUrl: prometheus.writeUrl, exportIntervalSecs: 60 });
  assert.match(m.instance, /^om-[0-9a-f]{16}$/);
  m.recordEvent(1, true);
  assert.equal(await m.pushIfDue(), true);
  assert.equal(await value(gw.url, { job: "both-sinks" }, "events_processed_total"), 1);
  const series = `events_processed_total{job="both-sinks",instance="${m.instance}"}`;
  assert.equal(await prometheus.scalar(series), 1);
  m.recordEvent(1, true);
  await m.end();
  assert.equal(await value(gw.url, { job: "both-sinks" }, "events_processed_total"), 2);
  assert.equal(await prometheus.scalar(`last_over_time(${series}[1h])`), 2);
  assert.equal(await prometheus.scalar(series), undefined, "end() left the series live");
  const named = new ObserverMetrics({ job: "j", remoteWriteUrl: prometheus.writeUrl, instance: "edge-7" });
  assert.equal(named.instance, "edge-7");
  assert.throws(() => new ObserverMetrics({ job: "j", pushgatewayUrl: gw.url, instance: "x" }), /options\.instance only applies with remoteWriteUrl/);
});
