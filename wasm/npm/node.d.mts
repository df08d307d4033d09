export { ObserverMetrics, ObserverMetricsOptions, ActionOutcome, JobOperation } from "./node/observer_metrics_wasm.js";
