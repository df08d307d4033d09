// The package through the bundlers JS developers use, each recipe of the package README run as a
// user would, from the packed tarball in a fresh project: esbuild for the browser (the bundle runs
// in headless Chromium) and for Node (ESM with initSync, CommonJS with the module copied beside
// the bundle), `vite build` (in Chromium) and `vite dev`. Each pushes to a real Pushgateway, which
// must hold the exact value.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { execFileSync, spawn } from "node:child_process";
import { copyFileSync, mkdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { startGateway, value, sleep, freePort } from "./gateway.mjs";
import { startChromium, startSite, openPage } from "./chromium.mjs";
import { installPacked } from "./packed.mjs";

const bin = (name) => fileURLToPath(new URL(`../node_modules/.bin/${name}`, import.meta.url));

let gw;
let browser;
let project;
let installed;
before(async () => {
  gw = await startGateway();
  browser = await startChromium();
  ({ project, installed } = installPacked("om-bundlers-"));
});
after(async () => {
  // Every part is stopped even if one fails to, so that no process outlives the tests.
  try {
    await browser?.stop();
  } finally {
    await gw?.stop();
    if (project) rmSync(project, { recursive: true, force: true });
  }
});

/** Waits until the gateway holds `expected` for `metric` in the group of `job`. */
async function gatewayHolds(job, metric, expected, what) {
  const deadline = Date.now() + 30000;
  for (;;) {
    const got = await value(gw.url, { job }, metric);
    if (got === expected) return;
    assert.ok(Date.now() < deadline, `${what}: the gateway holds ${got}, not ${expected}`);
    await sleep(100);
  }
}

/** Opens `url` in Chromium; resolves with the page's uncaught errors once the gateway has the push. */
async function runPage(url, job, what) {
  const page = await openPage(browser.endpoint);
  try {
    await page.send("Page.navigate", { url });
    await gatewayHolds(job, "bundled_total", 3, what);
    return page.events.filter((e) => e.method === "Runtime.exceptionThrown").map((e) => JSON.stringify(e.params).slice(0, 300));
  } finally {
    page.close();
  }
}

/** Serves `dir` and runs its page; the page must push and throw nothing. */
async function runBuilt(dir, job, what) {
  const site = await serveDir(dir);
  try {
    assert.deepEqual(await runPage(`${site.origin}/`, job, what), []);
  } finally {
    site.server.close();
  }
}

const app = (job, init) => `import init, { ObserverMetrics } from "observer-metrics";
${init}
const m = new ObserverMetrics({ job: ${JSON.stringify(job)}, pushgatewayUrl: location.origin });
m.counter({ name: "bundled_total", help: "From a bundle." }).inc(3);
await m.push();
`;

/** Serves `dir` (index.html and what it loads) with /metrics/ passed through to the gateway. */
function serveDir(dir) {
  return startSite(gw.url, (path) => {
    const name = path === "/" ? "index.html" : path.slice(1);
    if (name.includes("..")) return undefined;
    try {
      return [name, readFileSync(join(dir, name))];
    } catch {
      return undefined;
    }
  });
}

test("esbuild for the browser: the module's URL through the file loader, given to init()", async () => {
  const dir = join(project, "esbuild-web");
  mkdirSync(dir);
  writeFileSync(
    join(dir, "app.mjs"),
    app("esbuild-web", `import wasmUrl from "observer-metrics/observer_metrics_wasm_bg.wasm";\nawait init(wasmUrl);`),
  );
  execFileSync(bin("esbuild"), ["app.mjs", "--bundle", "--format=esm", "--platform=browser", "--loader:.wasm=file", "--outdir=dist", "--log-level=error"], { cwd: dir, stdio: "pipe" });
  writeFileSync(join(dir, "dist", "index.html"), '<!doctype html><link rel="icon" href="data:,"><script type="module" src="/app.js"></script>');
  await runBuilt(join(dir, "dist"), "esbuild-web", "esbuild (browser)");
});

test("esbuild for Node: an ESM bundle given the bytes with initSync, a CommonJS one with the module beside it", async () => {
  const dir = join(project, "esbuild-node");
  mkdirSync(dir);
  const body = (job) => `const m = new ObserverMetrics({ job: ${JSON.stringify(job)}, pushgatewayUrl: process.env.GW });
m.counter({ name: "bundled_total", help: "From a bundle." }).inc(3);
m.push().then(() => console.log("pushed"), (e) => { console.error(e.message); process.exitCode = 1; });
`;
  writeFileSync(
    join(dir, "server.mjs"),
    `import { readFileSync } from "node:fs";
import { initSync, ObserverMetrics } from "observer-metrics";
initSync(readFileSync(process.env.WASM));
${body("esbuild-node-esm")}`,
  );
  writeFileSync(join(dir, "server.cjs"), `const { ObserverMetrics } = require("observer-metrics");\n${body("esbuild-node-cjs")}`);
  for (const [entry, format] of [["server.mjs", "esm"], ["server.cjs", "cjs"]]) {
    execFileSync(bin("esbuild"), [entry, "--bundle", "--platform=node", `--format=${format}`, `--outfile=dist/${entry}`, "--log-level=error"], { cwd: dir, stdio: "pipe" });
  }
  const wasm = join(installed, "observer_metrics_wasm_bg.wasm");
  const run = (entry) => execFileSync(process.execPath, [join(dir, "dist", entry)], { cwd: dir, env: { ...process.env, GW: gw.url, WASM: wasm }, encoding: "utf8", stdio: "pipe" });
  assert.match(run("server.mjs"), /^pushed$/m);
  await gatewayHolds("esbuild-node-esm", "bundled_total", 3, "esbuild (Node, ESM)");
  // Without the module beside the bundle the error says what to do.
  assert.throws(() => run("server.cjs"), (e) => /cannot read the wasm module at .*copy observer_metrics_wasm_bg\.wasm there, or call initSync\(bytes\)/.test(e.stderr));
  copyFileSync(wasm, join(dir, "dist", "observer_metrics_wasm_bg.wasm"));
  assert.match(run("server.cjs"), /^pushed$/m);
  await gatewayHolds("esbuild-node-cjs", "bundled_total", 3, "esbuild (Node, CommonJS)");
});

test("vite build: the module found through new URL(…, import.meta.url), run in Chromium", async () => {
  const dir = join(project, "vite-build");
  mkdirSync(dir);
  writeFileSync(join(dir, "index.html"), '<!doctype html><link rel="icon" href="data:,"><script type="module" src="/main.js"></script>');
  writeFileSync(join(dir, "main.js"), app("vite-build", "await init();"));
  writeFileSync(join(dir, "vite.config.mjs"), "export default { build: { target: 'es2022' }, logLevel: 'error' };\n");
  execFileSync(bin("vite"), ["build"], { cwd: dir, stdio: "pipe" });
  await runBuilt(join(dir, "dist"), "vite-build", "vite build");
});

test("vite dev: no configuration, the page instantiates the module and pushes", async () => {
  const dir = join(project, "vite-dev");
  mkdirSync(dir);
  writeFileSync(join(dir, "index.html"), '<!doctype html><link rel="icon" href="data:,"><script type="module" src="/main.js"></script>');
  writeFileSync(join(dir, "main.js"), app("vite-dev", "await init();"));
  const port = await freePort();
  writeFileSync(
    join(dir, "vite.config.mjs"),
    `export default {
  server: { host: "127.0.0.1", port: ${port}, strictPort: true, proxy: { "/metrics/": ${JSON.stringify(gw.url)} } },
  logLevel: "error",
};\n`,
  );
  const dev = spawn(bin("vite"), [], { cwd: dir, stdio: "ignore" });
  try {
    const origin = `http://127.0.0.1:${port}`;
    const deadline = Date.now() + 30000;
    for (;;) {
      try {
        if ((await fetch(`${origin}/`)).ok) break;
      } catch {}
      assert.ok(Date.now() < deadline, "vite dev did not serve within 30 s");
      await sleep(100);
    }
    assert.deepEqual(await runPage(`${origin}/`, "vite-dev", "vite dev"), []);
  } finally {
    await new Promise((r) => (dev.exitCode !== null ? r() : (dev.once("exit", r), dev.kill("SIGKILL"))));
  }
});
