// observer-metrics' npm package against prom-client, in one process, on the hot paths JS code
// takes: each line runs both, interleaved round by round, and reports the median time per call
// and the ratio (ours / prom-client; below 1 is faster). Run after wasm/build.sh:
//   node wasm/bench/peers.mjs            (ROUNDS=7 CALLS=200000 by default)
import { createRequire } from "node:module";
import { ObserverMetrics } from "../pkg/npm/node.mjs";

const require = createRequire(import.meta.url);
const client = require("prom-client");

const ROUNDS = Number(process.env.ROUNDS ?? 7);
const CALLS = Number(process.env.CALLS ?? 200000);

/** Median nanoseconds per call of `run(calls)` over the rounds, after one warm-up round; `run`
 * may return a promise (prom-client renders asynchronously), which is waited for. */
async function measure(run, calls) {
  await run(calls);
  const times = [];
  for (let r = 0; r < ROUNDS; r++) {
    const start = process.hrtime.bigint();
    await run(calls);
    times.push(Number(process.hrtime.bigint() - start) / calls);
  }
  times.sort((a, b) => a - b);
  return times[times.length >> 1];
}

function ours() {
  const m = new ObserverMetrics({ maxSeriesPerMetric: 0 });
  return {
    m,
    c2: m.counter({ name: "req_total", help: "r", labelNames: ["method", "code"] }),
    c0: m.counter({ name: "plain_total", help: "p" }),
    h1: m.histogram({ name: "lat_seconds", help: "l", labelNames: ["route"] }),
    fresh: m.counter({ name: "fresh_total", help: "f", labelNames: ["id"] }),
    s1: m.summary({ name: "rpc_seconds", help: "s", labelNames: ["route"], maxAgeSeconds: 60, ageBuckets: 5 }),
  };
}

function peer() {
  const registry = new client.Registry();
  const registers = [registry];
  return {
    registry,
    c2: new client.Counter({ name: "req_total", help: "r", labelNames: ["method", "code"], registers }),
    c0: new client.Counter({ name: "plain_total", help: "p", registers }),
    h1: new client.Histogram({ name: "lat_seconds", help: "l", labelNames: ["route"], registers }),
    fresh: new client.Counter({ name: "fresh_total", help: "f", labelNames: ["id"], registers }),
    s1: new client.Summary({ name: "rpc_seconds", help: "s", labelNames: ["route"], maxAgeSeconds: 60, ageBuckets: 5, registers }),
  };
}

const a = ours();
const b = peer();
const labels = { method: "GET", code: "200" };
let freshA = 0;
let freshB = 0;
const childA = a.c2.labels("GET", "200");
const childB = b.c2.labels("GET", "200");
// Latencies across three decades, so that neither sketch sees one value over and over.
const spread = Array.from({ length: 1024 }, (_, i) => 10 ** ((i * 0.618) % 3 - 3));

const lines = [
  ["counter, 2 labels: inc({ method, code })", (n) => { for (let i = 0; i < n; i++) a.c2.inc(labels); }, (n) => { for (let i = 0; i < n; i++) b.c2.inc(labels); }, CALLS],
  ["counter, no labels: inc()", (n) => { for (let i = 0; i < n; i++) a.c0.inc(); }, (n) => { for (let i = 0; i < n; i++) b.c0.inc(); }, CALLS],
  ["histogram, 1 label: observe({ route }, v)", (n) => { for (let i = 0; i < n; i++) a.h1.observe({ route: "/" }, 0.02); }, (n) => { for (let i = 0; i < n; i++) b.h1.observe({ route: "/" }, 0.02); }, CALLS],
  ["bound child: labels(...).inc() once, then inc()", (n) => { for (let i = 0; i < n; i++) childA.inc(); }, (n) => { for (let i = 0; i < n; i++) childB.inc(); }, CALLS],
  ["a fresh label set: inc({ id })", (n) => { for (let i = 0; i < n; i++) a.fresh.inc({ id: `u${freshA++}` }); }, (n) => { for (let i = 0; i < n; i++) b.fresh.inc({ id: `u${freshB++}` }); }, 20000],
  ["a fresh label set, registered: inc({ id }), then one render per 20,000", (n) => { const m = new ObserverMetrics({ maxSeriesPerMetric: 0 }); const c = m.counter({ name: "f_total", help: "f", labelNames: ["id"] }); for (let i = 0; i < n; i++) c.inc({ id: `u${i}` }); m.render(); m.free(); }, (n) => { const r = new client.Registry(); const c = new client.Counter({ name: "f_total", help: "f", labelNames: ["id"], registers: [r] }); for (let i = 0; i < n; i++) c.inc({ id: `u${i}` }); return r.metrics(); }, 20000],
  ["summary, 1 label, 60 s window: observe({ route }, v)", (n) => { for (let i = 0; i < n; i++) a.s1.observe({ route: "/" }, spread[i & 1023]); }, (n) => { for (let i = 0; i < n; i++) b.s1.observe({ route: "/" }, spread[i & 1023]); }, CALLS],
  ["text call, 2 labels: counter(name, 1, labels) (prom-client: inc(labels))", (n) => { for (let i = 0; i < n; i++) a.m.counter("text_total", 1, labels); }, (n) => { for (let i = 0; i < n; i++) b.c2.inc(labels); }, CALLS],
];

const rows = [];
for (const [name, runOurs, runPeer, calls] of lines) {
  // Interleaved: a round of ours, a round of the peer, so both see the same machine.
  const oursNs = [];
  const peerNs = [];
  for (let r = 0; r < 3; r++) {
    oursNs.push(await measure(runOurs, calls));
    peerNs.push(await measure(runPeer, calls));
  }
  const med = (xs) => xs.sort((x, y) => x - y)[1];
  rows.push([name, med(oursNs), med(peerNs)]);
}

// Render: 9,900 counters and 100 histograms in each.
const ra = new ObserverMetrics({ maxSeriesPerMetric: 0 });
const rb = new client.Registry();
const ca = ra.counter({ name: "render_total", help: "r", labelNames: ["id"] });
const cb = new client.Counter({ name: "render_total", help: "r", labelNames: ["id"], registers: [rb] });
const ha = ra.histogram({ name: "render_seconds", help: "r", labelNames: ["id"] });
const hb = new client.Histogram({ name: "render_seconds", help: "r", labelNames: ["id"], registers: [rb] });
for (let i = 0; i < 9900; i++) {
  ca.inc({ id: String(i) }, i);
  cb.inc({ id: String(i) }, i);
}
for (let i = 0; i < 100; i++) {
  ha.observe({ id: String(i) }, i / 100);
  hb.observe({ id: String(i) }, i / 100);
}
async function renderTimes(render, n) {
  await render();
  const times = [];
  for (let i = 0; i < n; i++) {
    const start = process.hrtime.bigint();
    await render();
    times.push(Number(process.hrtime.bigint() - start));
  }
  times.sort((x, y) => x - y);
  return times[times.length >> 1];
}
const renderA = await renderTimes(() => ra.metrics(), 31);
const renderB = await renderTimes(() => rb.metrics(), 31);
rows.push(["render 9,900 counters + 100 histograms (metrics())", renderA, renderB]);

// Render: 100 summaries of 1,000 observations each, 7 quantiles over a 60 s window.
const sa = new ObserverMetrics({ maxSeriesPerMetric: 0 });
const sb = new client.Registry();
const suA = sa.summary({ name: "render_rpc_seconds", help: "r", labelNames: ["id"], maxAgeSeconds: 60, ageBuckets: 5 });
const suB = new client.Summary({ name: "render_rpc_seconds", help: "r", labelNames: ["id"], maxAgeSeconds: 60, ageBuckets: 5, registers: [sb] });
for (let i = 0; i < 100; i++) {
  for (let j = 0; j < 1000; j++) {
    suA.observe({ id: String(i) }, spread[j & 1023]);
    suB.observe({ id: String(i) }, spread[j & 1023]);
  }
}
rows.push(["render 100 summaries of 1,000 observations (metrics())", await renderTimes(() => sa.metrics(), 31), await renderTimes(() => sb.metrics(), 31)]);

const fmt = (ns) => (ns >= 1e6 ? `${(ns / 1e6).toFixed(2)} ms` : ns >= 1000 ? `${(ns / 1000).toFixed(2)} µs` : `${ns.toFixed(1)} ns`);
console.log(`node ${process.version}, prom-client ${require("prom-client/package.json").version}, ${ROUNDS} rounds x 3 interleaved, medians`);
console.log("| line | observer-metrics | prom-client | ratio (ours / prom-client) |");
console.log("|---|---|---|---|");
for (const [name, x, y] of rows) console.log(`| ${name} | ${fmt(x)} | ${fmt(y)} | ${(x / y).toFixed(2)} |`);
