// A real Prometheus with its remote-write receiver, on a free loopback port, data in a temporary
// directory, for the JS tests.
import { spawn } from "node:child_process";
import { mkdtempSync, writeFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { freePort, sleep } from "./gateway.mjs";

export async function startPrometheus() {
  const dir = mkdtempSync(join(tmpdir(), "om-prometheus-js-"));
  writeFileSync(join(dir, "prometheus.yml"), "global:\n  scrape_interval: 1m\n");
  const port = await freePort();
  const child = spawn(
    "prometheus",
    [`--config.file=${join(dir, "prometheus.yml")}`, `--storage.tsdb.path=${join(dir, "data")}`, `--web.listen-address=127.0.0.1:${port}`, "--web.enable-remote-write-receiver"],
    { stdio: "ignore" },
  );
  child.once("error", (e) => {
    throw new Error(`prometheus must be installed (apt-get install -y prometheus): ${e.message}`);
  });
  const url = `http://127.0.0.1:${port}`;
  const deadline = Date.now() + 30000;
  for (;;) {
    try {
      if ((await fetch(`${url}/-/ready`)).ok) break;
    } catch {}
    if (Date.now() > deadline) throw new Error("Prometheus did not become ready in 30 s");
    await sleep(100);
  }
  return {
    url,
    writeUrl: `${url}/api/v1/write`,
    // The single value of an instant query, or undefined.
    async scalar(expr) {
      const body = await (await fetch(`${url}/api/v1/query?query=${encodeURIComponent(expr)}`)).json();
      const result = body.data.result;
      return result.length === 1 ? Number(result[0].value[1]) : undefined;
    },
    stop: () =>
      new Promise((r) => {
        const done = () => (rmSync(dir, { recursive: true, force: true }), r());
        child.exitCode === null ? (child.once("exit", done), child.kill()) : done();
      }),
  };
}
