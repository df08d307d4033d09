// What the entry point (index.js, node.mjs, workerd.mjs) tells the API about its host: whether the
// wasm module is instantiated, how to instantiate it on first use, and whether timers run only
// inside requests (workerd), where start() cannot work.
export const runtime = {
  ready: false,
  /** Instantiates the module synchronously, or throws saying how to. */
  load: null,
  requestBound: false,
};
