// Entry for Node (ESM; node.cjs is this file built as CommonJS): the module is read from next to
// this file on the first `new ObserverMetrics(...)`, unless `initSync(bytes)` gave it first, as a
// bundled server must (a bundle has no file beside it).
import { readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { initSync as initWasmSync } from "./observer_metrics_wasm.js";
import { runtime } from "./runtime.js";

export * from "./api.js";

/** Instantiates the module from a `WebAssembly.Module` or its bytes, synchronously. */
export function initSync(module) {
  if (runtime.ready) return;
  initWasmSync({ module });
  runtime.ready = true;
}

/** As `initSync`, for code written for the web entry. */
export async function init(module) {
  if (module === undefined) runtime.load();
  else initSync(module);
}

runtime.load = () => {
  const path = fileURLToPath(new URL("./observer_metrics_wasm_bg.wasm", import.meta.url));
  let bytes;
  try {
    bytes = readFileSync(path);
  } catch (e) {
    throw new Error(
      `observer-metrics: cannot read the wasm module at ${path} (${e.code ?? e.message}). A bundled server has no file beside the bundle: ` +
        `copy observer_metrics_wasm_bg.wasm there, or call initSync(bytes) before the first new ObserverMetrics(...)`,
    );
  }
  initSync(bytes);
};

export default init;
