// The README's Node snippets, run as written (as report.cjs and report.mjs in the repository root,
// where they say they run) against a real gateway.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { readFileSync, writeFileSync, rmSync } from "node:fs";
import { execFileSync } from "node:child_process";
import { fileURLToPath } from "node:url";
import { startGateway, group, value } from "./gateway.mjs";

const root = fileURLToPath(new URL("../../", import.meta.url));
const readme = readFileSync(`${root}README.md`, "utf8");

// The ```js block whose first line is `// <name>: …`.
function snippet(name) {
  const block = [...readme.matchAll(/```js\n([\s\S]*?)```/g)].map((m) => m[1]).find((b) => b.startsWith(`// ${name}:`));
  assert.ok(block, `README has no snippet ${name}`);
  return block;
}

let gw;
before(async () => (gw = await startGateway()));
after(async () => gw && (await gw.stop()));

for (const [name, job] of [["report.cjs", "batch"], ["report.mjs", "batch-esm"]]) {
  test(`the README's ${name} runs as written`, async () => {
    const file = `${root}.readme-${process.pid}-${name}`;
    writeFileSync(file, snippet(name));
    try {
      const out = execFileSync(process.execPath, [file], {
        env: { ...process.env, PUSHGATEWAY_URL: gw.url },
        encoding: "utf8",
        timeout: 30000,
      });
      assert.match(out, /^pushed$/m);
    } finally {
      rmSync(file, { force: true });
    }
    assert.equal(await value(gw.url, { job }, "events_processed_total"), 1);
    const g = await group(gw.url, { job });
    assert.equal(g.batch_records_total.help, "Records written.");
    assert.equal(Number(g.batch_records_total.metrics[0].value), 12);
    assert.equal(g.batch_records_total.metrics[0].labels.table, "orders");
  });
}
