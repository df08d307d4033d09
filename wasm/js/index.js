// Entry for browsers, Deno and bundlers: the module is fetched and instantiated by `await init()`
// (or given to `initSync`) before the first `new ObserverMetrics(...)`.
import initWasm, { initSync as initWasmSync } from "./observer_metrics_wasm.js";
import { runtime } from "./runtime.js";

export * from "./api.js";

/** Fetches and instantiates the wasm module (by default from next to this file); once is enough. */
export async function init(moduleOrPath) {
  if (runtime.ready) return;
  await initWasm(moduleOrPath === undefined ? undefined : { module_or_path: moduleOrPath });
  runtime.ready = true;
}

/** Instantiates the module from a `WebAssembly.Module` or its bytes, synchronously. */
export function initSync(module) {
  if (runtime.ready) return;
  initWasmSync({ module });
  runtime.ready = true;
}

export default init;
