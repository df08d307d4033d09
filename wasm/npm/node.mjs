// ESM entry for Node: the Node build is CommonJS, so an ES module takes it whole.
import pkg from "./node/observer_metrics_wasm.js";
export const { ObserverMetrics } = pkg;
