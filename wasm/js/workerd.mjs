// Entry for Cloudflare Workers and workerd (the `workerd` export condition): workers load wasm as
// a compiled module and cannot fetch it, so it is imported and instantiated here. Timers run only
// inside requests there, so start() throws and points to pushIfDue().
import wasmModule from "./observer_metrics_wasm_bg.wasm";
import { initSync as initWasmSync } from "./observer_metrics_wasm.js";
import { runtime } from "./runtime.js";

export * from "./api.js";

initWasmSync({ module: wasmModule });
runtime.ready = true;
runtime.requestBound = true;

/** The module is instantiated already: nothing to do. */
export function initSync() {}

/** The module is instantiated already: nothing to do. */
export async function init() {}

export default init;
