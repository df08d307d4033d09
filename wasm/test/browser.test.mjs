// The web package in real headless Chromium (Debian's `chromium`), driven through the DevTools
// protocol. The README's browser snippet runs as written, from a page whose origin also passes
// /metrics/ through to a real Pushgateway (the README's same-origin recipe). Checked: the values the
// gateway holds, that no push shows as failed or aborted (ERR_ABORTED) in the network log, that the
// console stays clean, and that a cross-origin push says what a browser allows it to say.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { createServer } from "node:http";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import WebSocket from "ws";
import { startGateway, value, sleep } from "./gateway.mjs";

const root = fileURLToPath(new URL("../../", import.meta.url));
const readme = readFileSync(`${root}README.md`, "utf8");
const pageScript = [...readme.matchAll(/```js\n([\s\S]*?)```/g)].map((m) => m[1]).find((b) => b.startsWith("// page.mjs:"));

let gw;
let site;
let browser;
let profile;

// The site: the page, the web package, and /metrics/ passed through to the gateway.
function startSite(gatewayUrl) {
  const types = { ".js": "text/javascript", ".mjs": "text/javascript", ".wasm": "application/wasm", ".html": "text/html" };
  const server = createServer(async (req, res) => {
    const path = new URL(req.url, "http://x").pathname;
    if (path.startsWith("/metrics/")) {
      const chunks = [];
      for await (const c of req) chunks.push(c);
      const headers = {};
      for (const h of ["content-type", "content-encoding", "authorization"]) if (req.headers[h]) headers[h] = req.headers[h];
      const answer = await fetch(gatewayUrl + req.url, { method: req.method, headers, body: chunks.length ? Buffer.concat(chunks) : undefined });
      res.writeHead(answer.status, { "content-type": answer.headers.get("content-type") ?? "text/plain" });
      res.end(Buffer.from(await answer.arrayBuffer()));
      return;
    }
    const files = {
      "/": ["index.html", '<!doctype html><title>observer-metrics</title><link rel="icon" href="data:,"><script type="module" src="/page.mjs"></script>'],
      "/page.mjs": ["page.mjs", pageScript],
      "/cross.html": ["cross.html", `<!doctype html><link rel="icon" href="data:,"><script type="module">
        import init, { ObserverMetrics } from "/pkg/web/observer_metrics_wasm.js";
        await init();
        const m = new ObserverMetrics({ job: "cross", pushgatewayUrl: ${JSON.stringify(gatewayUrl)}, timeoutMs: 2000 });
        m.push().then(() => (window.crossOrigin = "pushed"), (e) => (window.crossOrigin = e.message));
      </script>`],
    };
    let body;
    let name = path;
    if (files[path]) {
      [name, body] = files[path];
    } else if (path.startsWith("/pkg/web/") && !path.includes("..")) {
      try {
        body = readFileSync(join(root, "wasm", path));
      } catch {}
    }
    if (body === undefined) {
      res.writeHead(404).end();
      return;
    }
    const ext = name.slice(name.lastIndexOf("."));
    res.writeHead(200, { "content-type": types[ext] ?? "application/octet-stream" }).end(body);
  });
  return new Promise((resolve) => server.listen(0, "127.0.0.1", () => resolve({ server, origin: `http://127.0.0.1:${server.address().port}` })));
}

// Headless Chromium with the DevTools protocol on a free port; resolves with its endpoint.
function startChromium() {
  profile = mkdtempSync(join(tmpdir(), "om-chromium-"));
  const child = spawn(
    "chromium",
    ["--headless=new", "--no-sandbox", "--disable-gpu", "--no-first-run", "--remote-debugging-port=0", `--user-data-dir=${profile}`, "about:blank"],
    { stdio: ["ignore", "ignore", "pipe"] },
  );
  return new Promise((resolve, reject) => {
    let log = "";
    const timer = setTimeout(() => reject(new Error(`chromium did not start in 30 s:\n${log}`)), 30000);
    child.once("error", (e) => reject(new Error(`chromium must be installed (apt-get install -y chromium): ${e.message}`)));
    child.stderr.on("data", (d) => {
      log += d;
      const m = log.match(/DevTools listening on (ws:\/\/\S+)/);
      if (m) {
        clearTimeout(timer);
        resolve({ child, endpoint: m[1] });
      }
    });
  });
}

// A DevTools session on a new page: `send` commands, `events` as they came.
async function openPage(endpoint) {
  const ws = new WebSocket(endpoint);
  await new Promise((r, j) => (ws.once("open", r), ws.once("error", j)));
  let next = 0;
  const pending = new Map();
  const events = [];
  ws.on("message", (data) => {
    const msg = JSON.parse(data);
    if (msg.id !== undefined && pending.has(msg.id)) {
      const { resolve, reject } = pending.get(msg.id);
      pending.delete(msg.id);
      msg.error ? reject(new Error(JSON.stringify(msg.error))) : resolve(msg.result);
    } else if (msg.method) {
      events.push(msg);
    }
  });
  const call = (method, params = {}, sessionId) =>
    new Promise((resolve, reject) => {
      const id = ++next;
      pending.set(id, { resolve, reject });
      ws.send(JSON.stringify({ id, method, params, sessionId }));
    });
  const { targetId } = await call("Target.createTarget", { url: "about:blank" });
  const { sessionId } = await call("Target.attachToTarget", { targetId, flatten: true });
  const send = (method, params) => call(method, params, sessionId);
  for (const domain of ["Network", "Runtime", "Log", "Page"]) await send(`${domain}.enable`);
  return { send, events, close: () => ws.close() };
}

async function evaluate(page, expression) {
  const { result } = await page.send("Runtime.evaluate", { expression, returnByValue: true, awaitPromise: true });
  return result.value;
}

before(async () => {
  gw = await startGateway();
  site = await startSite(gw.url);
  browser = await startChromium();
});

after(async () => {
  if (browser && browser.child.exitCode === null) {
    await new Promise((r) => (browser.child.once("exit", r), browser.child.kill("SIGKILL")));
  }
  site?.server.close();
  await gw?.stop();
  if (profile) rmSync(profile, { recursive: true, force: true });
});

test("the README's browser snippet pushes exact values through the same origin, with nothing aborted or logged", async () => {
  assert.ok(pageScript, "README has no page.mjs snippet");
  const page = await openPage(browser.endpoint);
  try {
    await page.send("Page.navigate", { url: `${site.origin}/` });
    const deadline = Date.now() + 20000;
    while ((await value(gw.url, { job: "web-app" }, "events_processed_total")) !== 1) {
      assert.ok(Date.now() < deadline, "no push from the page within 20 s");
      await sleep(100);
    }
    // The network log catches up with what the gateway already saw.
    const isPush = (e) => e.method === "Network.requestWillBeSent" && e.params.request.url.includes("/metrics/job/web-app");
    const settled = (e) =>
      ["Network.loadingFinished", "Network.loadingFailed"].includes(e.method) &&
      page.events.some((p) => isPush(p) && p.params.requestId === e.params.requestId);
    while (!page.events.some(settled)) {
      assert.ok(Date.now() < deadline, "no push settled in the network log");
      await sleep(50);
    }
    const pushes = page.events.filter((e) => e.method === "Network.requestWillBeSent" && e.params.request.url.includes("/metrics/job/web-app"));
    assert.ok(pushes.length >= 1, "the network log shows no push");
    const ids = new Set(pushes.map((e) => e.params.requestId));
    const failed = page.events.filter((e) => e.method === "Network.loadingFailed" && ids.has(e.params.requestId));
    assert.deepEqual(failed.map((e) => e.params.errorText), [], "a push failed or was aborted in the network log");
    const finished = page.events.filter((e) => e.method === "Network.loadingFinished" && ids.has(e.params.requestId));
    assert.ok(finished.length >= 1, "no push finished");
    const problems = page.events
      .filter(
        (e) =>
          (e.method === "Runtime.consoleAPICalled" && ["error", "warning"].includes(e.params.type)) ||
          e.method === "Runtime.exceptionThrown" ||
          (e.method === "Log.entryAdded" && e.params.entry.level === "error"),
      )
      .map((e) => JSON.stringify(e.params).slice(0, 300));
    assert.deepEqual(problems, [], "the console is not clean");
  } finally {
    page.close();
  }
});

test("a push to another origin rejects, saying it may be CORS", async () => {
  const page = await openPage(browser.endpoint);
  try {
    await page.send("Page.navigate", { url: `${site.origin}/cross.html` });
    const deadline = Date.now() + 20000;
    let outcome;
    while (!(outcome = await evaluate(page, "window.crossOrigin"))) {
      assert.ok(Date.now() < deadline, "the cross-origin push never settled");
      await sleep(100);
    }
    assert.match(outcome, new RegExp(`${gw.url.replace(/[.:/]/g, "\\$&")}.*Failed to fetch: .*CORS`));
    assert.equal(await value(gw.url, { job: "cross" }, "events_processed_total"), undefined);
  } finally {
    page.close();
  }
});
