// Type-checked (tsc --strict --noEmit) against the generated declarations: what a TypeScript user
// writes compiles, and what the API forbids does not.
import { ObserverMetrics, type ObserverMetricsOptions, type Counter, type Summary } from "../pkg/npm/index.js";

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
  const jobs: Counter<"queue"> = m.counter({ name: "jobs_total", help: "Jobs.", labelNames: ["queue"] as const });
  jobs.inc({ queue: "a" }, 2);
  jobs.labels("a").inc();
  // @ts-expect-error: a label outside labelNames
  jobs.inc({ queu: "a" });
  const seconds: number = m.histogram({ name: "lat_seconds", buckets: [0.1, 1] }).startTimer()();
  m.gauge({ name: "depth", collect() { this.set(seconds); } }).inc();
  const rpc: Summary<"method"> = m.summary({ name: "rpc_seconds", labelNames: ["method"] as const, percentiles: [0.5, 0.99], maxAgeSeconds: 60, ageBuckets: 3 });
  rpc.labels("get").observe(rpc.startTimer({ method: "get" })());
  // @ts-expect-error: summaries have no text call
  m.summary("rpc_seconds", 1);
  // @ts-expect-error: start() takes { unref }
  m.start({ unreff: true });
  return m.pushIfDue();
}
