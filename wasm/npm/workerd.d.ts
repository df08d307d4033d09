export { ObserverMetrics, ObserverMetricsOptions, ActionOutcome, JobOperation } from "./web/observer_metrics_wasm.js";
