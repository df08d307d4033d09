// Type-checked (tsc --strict --noEmit) against the generated declarations: what a TypeScript user
// writes compiles, and what the API forbids does not.
import { ObserverMetrics, type ObserverMetricsOptions } from "../pkg/web/observer_metrics_wasm.js";

const options: ObserverMetricsOptions = {
  job: "edge",
  pushgatewayUrl: "http://127.0.0.1:9091",
  groupingKey: { colo: "ams/1" },
  exportIntervalSecs: 60,
  histogramBuckets: [1, 5, 10],
  method: "post",
};

export async function use(): Promise<boolean> {
  const m = new ObserverMetrics(options);
  m.counter("requests_total", 1, { route: "/" });
  m.counter("requests_total", 1);
  m.recordAction("timeout", 3);
  m.recordJob("deadletter");
  const text: string = m.render();
  const pushed: void = await m.push();
  void text;
  void pushed;
  // @ts-expect-error: not an outcome
  m.recordAction("maybe", 1);
  // @ts-expect-error: method is "put" or "post"
  new ObserverMetrics({ method: "patch" });
  // @ts-expect-error: label values are strings
  m.gauge("g", 1, { n: 1 });
  return m.pushIfDue();
}
