// Headless Chromium (Debian's `chromium`) driven through the DevTools protocol, for the browser
// and bundler tests.
import { spawn } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createServer } from "node:http";
import WebSocket from "ws";

// A site on a free loopback port: `lookup(path)` gives `[name, body]` (the name's extension sets
// the content type) or undefined for a 404, and /metrics/ is passed through to the gateway, as
// the README's same-origin recipe has it.
export function startSite(gatewayUrl, lookup) {
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
    const found = lookup(path);
    if (found === undefined) {
      res.writeHead(404).end();
      return;
    }
    const [name, body] = found;
    const ext = name.slice(name.lastIndexOf("."));
    res.writeHead(200, { "content-type": types[ext] ?? "application/octet-stream" }).end(body);
  });
  return new Promise((resolve) => server.listen(0, "127.0.0.1", () => resolve({ server, origin: `http://127.0.0.1:${server.address().port}` })));
}

// Headless Chromium with the DevTools protocol on a free port; resolves with its endpoint.
export function startChromium() {
  const profile = mkdtempSync(join(tmpdir(), "om-chromium-"));
  const child = spawn(
    "chromium",
    ["--headless=new", "--no-sandbox", "--disable-gpu", "--no-first-run", "--remote-debugging-port=0", `--user-data-dir=${profile}`, "about:blank"],
    // Its own process group, so that stopping it stops its helper processes too (they outlive a
    // killed browser process and keep writing the profile); killed with the test process as well.
    { stdio: ["ignore", "ignore", "pipe"], detached: true },
  );
  const killGroup = () => {
    try {
      process.kill(-child.pid, "SIGKILL");
    } catch {}
  };
  process.once("exit", killGroup);
  return new Promise((resolve, reject) => {
    let log = "";
    const timer = setTimeout(() => reject(new Error(`chromium did not start in 30 s:\n${log}`)), 30000);
    child.once("error", (e) => reject(new Error(`chromium must be installed (apt-get install -y chromium): ${e.message}`)));
    child.stderr.on("data", (d) => {
      log += d;
      const m = log.match(/DevTools listening on (ws:\/\/\S+)/);
      if (m) {
        clearTimeout(timer);
        const stop = async () => {
          if (child.exitCode === null && child.signalCode === null) {
            await new Promise((r) => (child.once("exit", r), killGroup()));
          } else {
            killGroup();
          }
          // Its helper processes may still be writing the profile for a moment after it exits.
          rmSync(profile, { recursive: true, force: true, maxRetries: 10, retryDelay: 100 });
        };
        resolve({ child, endpoint: m[1], stop });
      }
    });
  });
}

// A DevTools session on a new page: `send` commands, `events` as they came.
export async function openPage(endpoint) {
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

export async function evaluate(page, expression) {
  const { result } = await page.send("Runtime.evaluate", { expression, returnByValue: true, awaitPromise: true });
  return result.value;
}

