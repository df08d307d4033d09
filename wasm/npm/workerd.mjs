// Entry for Cloudflare Workers and workerd (the `workerd` export condition): workers load wasm as a
// compiled module and cannot fetch it, so it is imported and instantiated synchronously here.
import wasmModule from "./web/observer_metrics_wasm_bg.wasm";
import { initSync } from "./web/observer_metrics_wasm.js";
initSync({ module: wasmModule });
export { ObserverMetrics } from "./web/observer_metrics_wasm.js";
