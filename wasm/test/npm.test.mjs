// The npm package as a user gets it: `npm pack`, installed from the tarball into a fresh temporary
// project, then used from CommonJS, from ESM, and from a workerd worker (the `workerd` condition),
// each pushing to a real Pushgateway.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { Miniflare } from "miniflare";
import { startGateway, value } from "./gateway.mjs";
import { installPacked } from "./packed.mjs";

const cargoVersion = readFileSync(new URL("../Cargo.toml", import.meta.url), "utf8").match(/^version = "(.*)"/m)[1];

let gw;
let project;
let installed;
before(async () => {
  gw = await startGateway();
  const packed = installPacked("om-npm-");
  project = packed.project;
  installed = packed.installed;
  const paths = packed.files;
  for (const needed of ["README.md", "LICENSE-MIT", "LICENSE-APACHE", "package.json", "index.d.ts", "index.d.cts", "index.js", "node.mjs", "node.cjs", "workerd.mjs", "observer_metrics_wasm_bg.wasm"]) {
    assert.ok(paths.includes(needed), `${needed} is not in the tarball: ${paths}`);
  }
  // One copy of the module, whatever the host.
  assert.deepEqual(paths.filter((p) => p.endsWith(".wasm")), ["observer_metrics_wasm_bg.wasm"]);
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

// The package README's Node snippets, as written, in the project that installed the tarball.
for (const [name, job] of [["npm-report.cjs", "batch"], ["npm-report.mjs", "batch-esm"]]) {
  test(`the package README's ${name} runs as written`, async () => {
    const readme = readFileSync(join(installed, "README.md"), "utf8");
    const block = [...readme.matchAll(/```js\n([\s\S]*?)```/g)].map((m) => m[1]).find((b) => b.startsWith(`// ${name}:`));
    assert.ok(block, `the package README has no snippet ${name}`);
    writeFileSync(join(project, name), block);
    const out = execFileSync(process.execPath, [name], { cwd: project, env: { ...process.env, PUSHGATEWAY_URL: gw.url }, encoding: "utf8", timeout: 30000 });
    assert.match(out, /^pushed$/m);
    assert.equal(await value(gw.url, { job }, "batch_rows_total"), 120);
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
      ...["api.js", "sketch.js", "options.js", "runtime.js", "observer_metrics_wasm.js"].map((f) => module(f, "ESModule")),
      module("observer_metrics_wasm_bg.wasm", "CompiledWasm"),
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

// What a TypeScript user of each module resolution gets, with the library checks on
// (`skipLibCheck: false`) and no DOM or Node types in `lib`: the declarations must stand alone.
for (const [resolution, module, file] of [
  ["nodenext", "nodenext", "use.mts"],
  ["node16", "node16", "use.cts"],
  ["bundler", "esnext", "use.ts"],
  ["node10", "commonjs", "use.ts"],
]) {
  test(`types check under moduleResolution ${resolution} (${file}, skipLibCheck false, lib es2022 only)`, () => {
    const tsc = fileURLToPath(new URL("../node_modules/.bin/tsc", import.meta.url));
    const dir = mkdtempSync(join(project, `ts-${resolution}-`));
    const imports = file === "use.cts"
      ? `import metrics = require("observer-metrics");\nconst { ObserverMetrics } = metrics;\ntype ObserverMetricsOptions = metrics.ObserverMetricsOptions;`
      : `import { ObserverMetrics, initSync, type ObserverMetricsOptions, type Counter } from "observer-metrics";\nvoid initSync;`;
    writeFileSync(
      join(dir, file),
      `${imports}
       const options: ObserverMetricsOptions = { job: "typed", pushgatewayUrl: "http://127.0.0.1:9091", bucketOverrides: { "*_bytes": [1024] } };
       const m = new ObserverMetrics(options);
       const c = m.counter({ name: "jobs_total", help: "Jobs.", labelNames: ["queue"] as const });
       c.inc({ queue: "a" });
       c.labels("a").inc(2);
       const h = m.histogram({ name: "lat_seconds", help: "Latency.", buckets: [0.1, 1] });
       const end = h.startTimer();
       const seconds: number = end();
       m.gauge({ name: "depth", help: "Depth." }).dec(seconds);
       m.recordAction("success", 3);
       const pushed: Promise<boolean> = m.pushIfDue();
       void pushed;\n`,
    );
    writeFileSync(join(dir, "tsconfig.json"), JSON.stringify({
      compilerOptions: { strict: true, noEmit: true, skipLibCheck: false, target: "es2022", lib: ["es2022"], types: [], module, moduleResolution: resolution },
      files: [file],
    }));
    try {
      execFileSync(tsc, ["-p", dir], { cwd: dir, stdio: "pipe", encoding: "utf8" });
    } catch (e) {
      assert.fail(`tsc (${resolution}) failed:\n${e.stdout}${e.stderr}`);
    }
  });
}
