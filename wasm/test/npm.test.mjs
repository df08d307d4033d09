// The npm package as a user gets it: `npm pack`, installed from the tarball into a fresh temporary
// project, then used from CommonJS, from ESM, and from a workerd worker (the `workerd` condition),
// each pushing to a real Pushgateway.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { Miniflare } from "miniflare";
import { startGateway, value } from "./gateway.mjs";

const pkgDir = fileURLToPath(new URL("../pkg/npm/", import.meta.url));
const cargoVersion = readFileSync(new URL("../Cargo.toml", import.meta.url), "utf8").match(/^version = "(.*)"/m)[1];

let gw;
let project;
let installed;
before(async () => {
  gw = await startGateway();
  project = mkdtempSync(join(tmpdir(), "om-npm-"));
  const [{ filename, files }] = JSON.parse(
    execFileSync("npm", ["pack", "--json", "--pack-destination", project], { cwd: pkgDir, encoding: "utf8" }),
  );
  const paths = files.map((f) => f.path);
  for (const needed of ["README.md", "LICENSE-MIT", "package.json", "workerd.d.ts", "node.d.mts", "web/observer_metrics_wasm.d.ts", "node/observer_metrics_wasm_bg.wasm", "web/observer_metrics_wasm_bg.wasm"]) {
    assert.ok(paths.includes(needed), `${needed} is not in the tarball: ${paths}`);
  }
  writeFileSync(join(project, "package.json"), JSON.stringify({ name: "consumer", private: true }));
  execFileSync("npm", ["install", "--no-audit", "--no-fund", "--offline", join(project, filename)], { cwd: project, stdio: "ignore" });
  installed = join(project, "node_modules", "observer-metrics");
});
after(async () => {
  await gw?.stop();
  if (project) rmSync(project, { recursive: true, force: true });
});

test("the version is Cargo.toml's", () => {
  assert.equal(JSON.parse(readFileSync(join(installed, "package.json"), "utf8")).version, cargoVersion);
});

for (const [kind, args, source] of [
  ["CommonJS", ["-e"], `const { ObserverMetrics } = require("observer-metrics");`],
  ["ESM", ["--input-type=module", "-e"], `import { ObserverMetrics } from "observer-metrics";`],
]) {
  test(`require and import resolve: ${kind}`, async () => {
    const job = `npm-${kind}`;
    const script = `${source}
      const m = new ObserverMetrics({ job: ${JSON.stringify(job)}, pushgatewayUrl: process.env.GW });
      m.recordEvent(1, true);
      m.recordEvent(1, true);
      m.push().then(() => console.log("pushed"));`;
    const out = execFileSync(process.execPath, [...args, script], { cwd: project, env: { ...process.env, GW: gw.url }, encoding: "utf8" });
    assert.match(out, /^pushed$/m);
    assert.equal(await value(gw.url, { job }, "events_processed_total"), 2);
  });
}

test("a workerd worker gets the package through its workerd condition", async () => {
  const manifest = JSON.parse(readFileSync(join(installed, "package.json"), "utf8"));
  const entry = manifest.exports["."].workerd.default; // what wrangler's resolver picks
  const base = "node_modules/observer-metrics";
  const module = (path, type) => ({
    type,
    path: `${base}/${path}`,
    contents: readFileSync(join(installed, path)),
  });
  const mf = new Miniflare({
    modules: [
      {
        type: "ESModule",
        path: "worker.mjs",
        contents: `import { ObserverMetrics } from "./${base}/${entry.replace("./", "")}";
          export default {
            async fetch(request, env) {
              const m = new ObserverMetrics({ job: "npm-workerd", pushgatewayUrl: env.GATEWAY });
              m.recordEvent(1, true);
              await m.push();
              return new Response("pushed");
            },
          };`,
      },
      module(entry.replace("./", ""), "ESModule"),
      module("web/observer_metrics_wasm.js", "ESModule"),
      module("web/observer_metrics_wasm_bg.wasm", "CompiledWasm"),
    ],
    bindings: { GATEWAY: gw.url },
    compatibilityDate: "2024-09-23",
  });
  try {
    const res = await mf.dispatchFetch("http://localhost/");
    assert.equal(await res.text(), "pushed");
    assert.equal(await value(gw.url, { job: "npm-workerd" }, "events_processed_total"), 1);
  } finally {
    await mf.dispose();
  }
});

test("types resolve through the exports map (tsc --strict, Node16 resolution)", () => {
  const tsc = fileURLToPath(new URL("../node_modules/.bin/tsc", import.meta.url));
  writeFileSync(
    join(project, "use.mts"),
    `import { ObserverMetrics, type ObserverMetricsOptions } from "observer-metrics";
     const options: ObserverMetricsOptions = { job: "typed", pushgatewayUrl: "http://127.0.0.1:9091" };
     const m: ObserverMetrics = new ObserverMetrics(options);
     m.recordAction("success", 3);
     const pushed: Promise<boolean> = m.pushIfDue();
     void pushed;\n`,
  );
  execFileSync(tsc, ["--strict", "--noEmit", "--module", "node16", "--moduleResolution", "node16", "--target", "es2022", "--lib", "esnext,dom", "use.mts"], { cwd: project, stdio: "pipe" });
});
