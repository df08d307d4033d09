// The wasm package's lifecycle in Node against a real Pushgateway: interval pushes that fail never
// end the process, pushes of one instance never overlap or land out of order, a started instance
// survives the garbage collector, and `method` is honoured everywhere. Where the fault was a dying
// process, the scenario runs in a child process and its exit code is the verdict.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { createRequire } from "node:module";
import { fileURLToPath } from "node:url";
import { startGateway, group, value, freePort, sleep } from "./gateway.mjs";

const require = createRequire(import.meta.url);
const pkgPath = fileURLToPath(new URL("../pkg/npm/node.cjs", import.meta.url));
const { ObserverMetrics } = require(pkgPath);

let gw;
before(async () => (gw = await startGateway()));
after(async () => gw && (await gw.stop()));

// Runs `script` (CommonJS, with `ObserverMetrics` and `sleep` in scope) in a child Node process,
// killed if it outlives `limitMs`. Resolves with its exit code and output.
function runChild(script, { args = [], env = {}, limitMs = 30000, onLine } = {}) {
  const prelude = `const { ObserverMetrics } = require(${JSON.stringify(pkgPath)});
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));\n`;
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [...args, "-e", prelude + script], {
      env: { ...process.env, ...env },
      stdio: ["ignore", "pipe", "pipe"],
    });
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (d) => {
      stdout += d;
      if (onLine) for (const line of String(d).split("\n")) if (line) onLine(line);
    });
    child.stderr.on("data", (d) => (stderr += d));
    const timer = setTimeout(() => child.kill("SIGKILL"), limitMs);
    child.on("exit", (code, signal) => {
      clearTimeout(timer);
      resolve({ code, signal, stdout, stderr });
    });
  });
}

async function waitFor(what, limitMs, check) {
  const deadline = Date.now() + limitMs;
  for (;;) {
    if (await check()) return;
    assert.ok(Date.now() < deadline, `${what} within ${limitMs} ms`);
    await sleep(50);
  }
}

test("start() with no gateway keeps the process alive, reports once per streak, and delivers the totals later", async () => {
  const port = await freePort();
  const url = `http://127.0.0.1:${port}`;
  let late;
  const result = await runChild(
    `const m = new ObserverMetrics({ job: "dead-start", pushgatewayUrl: process.env.URL, exportIntervalSecs: 1, timeoutMs: 300 });
     m.recordEvent(1, true);
     m.start();
     (async () => {
       await sleep(3500);              // three failing ticks at least
       m.recordEvent(1, true);
       console.log("alive");
       const deadline = Date.now() + 15000;
       for (;;) {
         try {
           const view = await (await fetch(process.env.URL + "/api/v1/metrics")).json();
           const g = view.data.find((g) => g.labels.job === "dead-start");
           if (g && g.events_processed_total.metrics[0].value === "2") break;
         } catch {}
         if (Date.now() > deadline) { console.log("never arrived"); process.exit(4); }
         await sleep(100);
       }
       await sleep(1500);              // one more successful tick: the streak's end is reported
       m.stop();
     })();`,
    {
      env: { URL: url },
      onLine: async (line) => {
        if (line === "alive") {
          // The gateway comes up where the job expected it.
          late = spawn("prometheus-pushgateway", [`--web.listen-address=127.0.0.1:${port}`, "--persistence.file="], { stdio: "ignore" });
        }
      },
    },
  );
  late?.kill();
  assert.equal(result.code, 0, `exit ${result.code} ${result.signal}: ${result.stderr}`);
  assert.match(result.stdout, /^alive$/m);
  const failures = result.stderr.split("\n").filter((l) => l.includes("interval push failed"));
  assert.equal(failures.length, 1, `one report per failure streak, got:\n${result.stderr}`);
  assert.ok(failures[0].includes(url) && failures[0].includes("cannot connect"), failures[0]);
  assert.match(result.stdout + result.stderr, /interval pushes succeed again/);
});

test("onError receives each failed interval push; nothing is logged then", async () => {
  const port = await freePort();
  const errors = [];
  const m = new ObserverMetrics({
    job: "on-error",
    pushgatewayUrl: `http://127.0.0.1:${port}`,
    exportIntervalSecs: 1,
    timeoutMs: 300,
    onError: (e) => errors.push(e),
  });
  m.start();
  try {
    await waitFor("two reported failures", 10000, () => errors.length >= 2);
  } finally {
    m.stop();
  }
  assert.ok(errors.every((e) => e instanceof Error && e.message.includes(`127.0.0.1:${port}`)), String(errors));
});

test("pushIfDue decides at once: of two calls in the same instant one pushes", async () => {
  const m = new ObserverMetrics({ job: "due-race", pushgatewayUrl: gw.url, exportIntervalSecs: 60 });
  m.recordEvent(1, true);
  assert.deepEqual(await Promise.all([m.pushIfDue(), m.pushIfDue()]), [true, false]);
  assert.equal(await value(gw.url, { job: "due-race" }, "events_processed_total"), 1);
});

// A proxy in front of the real gateway that holds the first request for `holdMs`: the window in
// which an older body, sent first, could land after a newer one. It counts requests in flight.
async function startSlowProxy(target, holdMs) {
  const { createServer } = await import("node:http");
  const stats = { seen: 0, inFlight: 0, maxInFlight: 0 };
  const server = createServer(async (req, res) => {
    const index = stats.seen++;
    stats.inFlight++;
    stats.maxInFlight = Math.max(stats.maxInFlight, stats.inFlight);
    const chunks = [];
    for await (const c of req) chunks.push(c);
    if (index === 0) await sleep(holdMs);
    const answer = await fetch(target + req.url, { method: req.method, body: Buffer.concat(chunks) });
    stats.inFlight--;
    res.writeHead(answer.status);
    res.end(await answer.text());
  });
  await new Promise((r) => server.listen(0, "127.0.0.1", r));
  return { url: `http://127.0.0.1:${server.address().port}`, stats, close: () => server.close() };
}

test("push() calls never overlap: a later call follows with the newer totals, never lands first", async () => {
  const proxy = await startSlowProxy(gw.url, 400);
  try {
    const m = new ObserverMetrics({ job: "ordered", pushgatewayUrl: proxy.url });
    m.counter("ordered_total", 1);
    const first = m.push();
    await sleep(50);
    m.counter("ordered_total", 1);
    const second = m.push();
    await Promise.all([first, second]);
    assert.equal(proxy.stats.maxInFlight, 1, "two pushes were in flight at once");
    assert.equal(await value(gw.url, { job: "ordered" }, "ordered_total"), 2);
  } finally {
    proxy.close();
  }
});

test("a started instance nothing refers to keeps pushing through garbage collection", async () => {
  const result = await runChild(
    `function start() {
       const m = new ObserverMetrics({ job: "gc-started", pushgatewayUrl: process.env.URL, exportIntervalSecs: 1 });
       m.recordEvent(1, true);
       m.start();
     }
     start();
     (async () => {
       const until = Date.now() + 3000;
       let junk = [];
       while (Date.now() < until) {
         junk.push(new Array(10000).fill(Math.random()));
         if (junk.length > 200) junk = [];
         global.gc();
         await sleep(5);
       }
       console.log("collected-at " + Date.now() / 1000);
       await sleep(2500);
       process.exit(0);
     })();`,
    { args: ["--expose-gc"], env: { URL: gw.url } },
  );
  assert.equal(result.code, 0, `exit ${result.code} ${result.signal}: ${result.stderr}`);
  const collectedAt = Number(result.stdout.match(/collected-at (\S+)/)[1]);
  const g = await group(gw.url, { job: "gc-started" });
  assert.ok(g, "no push arrived");
  const lastPush = Number(g.push_time_seconds.metrics[0].value);
  assert.ok(lastPush > collectedAt, `the last push (${lastPush}) came before the collection ended (${collectedAt})`);
});

test("free() and [Symbol.dispose]() without stop() end the timer; the process lives on", async () => {
  const result = await runChild(
    `const a = new ObserverMetrics({ job: "freed", pushgatewayUrl: process.env.URL, exportIntervalSecs: 1 });
     a.start();
     a.free();
     const b = new ObserverMetrics({ job: "disposed", pushgatewayUrl: process.env.URL, exportIntervalSecs: 1 });
     b.start();
     b[Symbol.dispose]();
     (async () => {
       for (let i = 0; i < 50; i++) { global.gc(); await sleep(50); }
       console.log("done");
     })();`,
    { args: ["--expose-gc"], env: { URL: gw.url } },
  );
  assert.equal(result.code, 0, `exit ${result.code} ${result.signal}: ${result.stderr}`);
  assert.match(result.stdout, /^done$/m);
  assert.doesNotMatch(result.stderr, /closure invoked/);
});

test('method "post" is honoured by push(), pushIfDue() and start()', async () => {
  const labels = { job: "post-only" };
  const seed = async () =>
    fetch(`${gw.url}/metrics/job/post-only`, { method: "PUT", body: "# TYPE other_total counter\nother_total 7\n" });
  const m = new ObserverMetrics({ job: "post-only", pushgatewayUrl: gw.url, method: "post", exportIntervalSecs: 1 });
  m.recordEvent(1, true);

  await seed();
  await m.push();
  assert.equal(await value(gw.url, labels, "other_total"), 7, "push() replaced the group");

  // An explicit push restarts the interval pushIfDue() counts.
  assert.equal(await m.pushIfDue(), false, "pushIfDue() pushed again right after push()");
  await sleep(1100);
  await seed();
  assert.equal(await m.pushIfDue(), true);
  assert.equal(await value(gw.url, labels, "other_total"), 7, "pushIfDue() replaced the group");

  await seed();
  m.recordEvent(1, true);
  m.start();
  try {
    await waitFor("a start() tick", 10000, async () => (await value(gw.url, labels, "events_processed_total")) === 2);
  } finally {
    m.stop();
  }
  assert.equal(await value(gw.url, labels, "other_total"), 7, "a start() tick replaced the group");
});
