// The web package in real headless Chromium (Debian's `chromium`), driven through the DevTools
// protocol. The README's browser snippet runs as written, from a page whose origin also passes
// /metrics/ through to a real Pushgateway (the README's same-origin recipe). Checked: the values the
// gateway holds, that no push shows as failed or aborted (ERR_ABORTED) in the network log, that the
// console stays clean, and that a cross-origin push says what a browser allows it to say.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { startGateway, group, value, sleep } from "./gateway.mjs";
import { startChromium, startSite, openPage, evaluate } from "./chromium.mjs";

const root = fileURLToPath(new URL("../../", import.meta.url));
const readme = readFileSync(`${root}README.md`, "utf8");
const pageScript = [...readme.matchAll(/```js\n([\s\S]*?)```/g)].map((m) => m[1]).find((b) => b.startsWith("// page.mjs:"));

let gw;
let site;
let browser;

// The site: the page, the package, and /metrics/ passed through to the gateway.
function startPageSite(gatewayUrl) {
  const files = {
    "/": ["index.html", '<!doctype html><title>observer-metrics</title><link rel="icon" href="data:,"><script type="module" src="/page.mjs"></script>'],
    "/page.mjs": ["page.mjs", pageScript],
    "/cross.html": ["cross.html", `<!doctype html><link rel="icon" href="data:,"><script type="module">
      import init, { ObserverMetrics } from "/pkg/npm/index.js";
      await init();
      const m = new ObserverMetrics({ job: "cross", pushgatewayUrl: ${JSON.stringify(gatewayUrl)}, timeoutMs: 2000 });
      m.push().then(() => (window.crossOrigin = "pushed"), (e) => (window.crossOrigin = e.message));
    </script>`],
  };
  return startSite(gatewayUrl, (path) => {
    if (files[path]) return files[path];
    if (path.startsWith("/pkg/npm/") && !path.includes("..")) {
      try {
        return [path, readFileSync(join(root, "wasm", path))];
      } catch {}
    }
    return undefined;
  });
}

before(async () => {
  gw = await startGateway();
  site = await startPageSite(gw.url);
  browser = await startChromium();
});

after(async () => {
  // Every part is stopped even if one fails to, so that no process outlives the tests.
  try {
    await browser?.stop();
  } finally {
    site?.server.close();
    await gw?.stop();
  }
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
    // The page's summary, sketched in the page: one observation, its quantiles that value.
    const ready = (await group(gw.url, { job: "web-app" })).page_ready_seconds;
    assert.equal(ready.type, "SUMMARY");
    const [series] = ready.metrics;
    assert.equal(series.count, "1");
    assert.ok(Number(series.sum) > 0, series.sum);
    assert.equal(series.quantiles["0.99"], series.sum, JSON.stringify(series));
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
