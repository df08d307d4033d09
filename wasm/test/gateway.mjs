// A real prometheus-pushgateway on a free loopback port, memory only, for the JS tests.
import { spawn } from "node:child_process";
import { createServer } from "node:net";

function freePort() {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => {
      const { port } = server.address();
      server.close(() => resolve(port));
    });
  });
}

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

export async function startGateway() {
  for (let attempt = 0; attempt < 5; attempt++) {
    const port = await freePort();
    const child = spawn("prometheus-pushgateway", [`--web.listen-address=127.0.0.1:${port}`, "--persistence.file="], {
      stdio: "ignore",
    });
    let exited = false;
    child.once("exit", () => (exited = true));
    child.once("error", (e) => {
      throw new Error(`prometheus-pushgateway must be installed (apt-get install -y prometheus-pushgateway): ${e.message}`);
    });
    const url = `http://127.0.0.1:${port}`;
    const deadline = Date.now() + 15000;
    while (!exited && Date.now() < deadline) {
      try {
        if ((await fetch(`${url}/-/ready`)).ok) {
          return { url, port, stop: () => new Promise((r) => (exited ? r() : (child.once("exit", r), child.kill()))) };
        }
      } catch {}
      await sleep(50);
    }
    child.kill();
    if (!exited) throw new Error("the Pushgateway did not become ready in 15 s");
  }
  throw new Error("the Pushgateway exited right after starting, on five ports in a row");
}

// The group whose labels are exactly `labels`, from the gateway's JSON view.
export async function group(url, labels) {
  const view = await (await fetch(`${url}/api/v1/metrics`)).json();
  return view.data.find((g) => {
    const keys = Object.keys(g.labels);
    return keys.length === Object.keys(labels).length && keys.every((k) => g.labels[k] === labels[k]);
  });
}

export async function value(url, labels, metric) {
  const g = await group(url, labels);
  const v = g?.[metric]?.metrics?.[0]?.value;
  return v === undefined ? undefined : Number(v);
}

export { freePort, sleep };
