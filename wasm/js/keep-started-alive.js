
// Appended by wasm/build.sh. A started instance must keep pushing until stop(), even when nothing
// else refers to it (`new ObserverMetrics(...).start()`), the way a setInterval callback keeps
// what it uses alive. wasm-bindgen frees an unreachable instance through a FinalizationRegistry,
// and an exported Rust method cannot see its JS `this`: so the JS side holds started instances
// here until stop(), free() or [Symbol.dispose]().
const observerMetricsStarted = new Set();
{
  const proto = ObserverMetrics.prototype;
  const { start, stop, free } = proto;
  proto.start = function () {
    start.call(this);
    observerMetricsStarted.add(this);
  };
  proto.stop = function () {
    observerMetricsStarted.delete(this);
    stop.call(this);
  };
  proto.free = function () {
    observerMetricsStarted.delete(this);
    free.call(this);
  };
  if (Symbol.dispose) proto[Symbol.dispose] = proto.free;
}
