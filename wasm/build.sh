#!/usr/bin/env bash
# Builds the npm package in wasm/pkg/npm: one wasm module, its wasm-bindgen glue, the JS API
# (wasm/js) and an entry per host (browsers and bundlers, Node ESM and CommonJS, workerd), then
# reports the module's size.
# Needs the wasm32-unknown-unknown target and wasm-bindgen-cli at the Cargo.lock version, and
# binaryen's wasm-opt and esbuild from wasm/package.json (`npm ci` in wasm/); the README's test command
# installs all three. Debian's binaryen 108 is too old: it breaks the externref table.
set -euo pipefail
cd "$(dirname "$0")/.."

want=$(awk '/^name = "wasm-bindgen"$/ { getline; gsub(/"/, "", $3); print $3 }' Cargo.lock | head -n 1)
have=$(wasm-bindgen --version 2>/dev/null | awk '{print $2}')
[ "$have" = "$want" ] || { echo "build.sh: wasm-bindgen $want is needed (found: ${have:-none}): cargo install wasm-bindgen-cli --version $want" >&2; exit 1; }

cargo build -p observer-metrics-wasm --target wasm32-unknown-unknown --profile wasm-release --quiet
raw=${CARGO_TARGET_DIR:-target}/wasm32-unknown-unknown/wasm-release/observer_metrics_wasm.wasm
version=$(awk -F'"' '/^version = / { print $2; exit }' wasm/Cargo.toml)

# One wasm-bindgen build (the web target: an ES module whose instantiation the entry points drive),
# one copy of the module, and the package's own JS around it.
out=wasm/pkg/npm
rm -rf wasm/pkg
mkdir -p "$out"
wasm-bindgen --target web --no-typescript --out-dir "$out" "$raw"
wasm=$out/observer_metrics_wasm_bg.wasm
wasm_opt=wasm/node_modules/.bin/wasm-opt
[ -x "$wasm_opt" ] || { echo "build.sh: $wasm_opt is missing (run npm ci in wasm/)" >&2; exit 1; }
# The features rustc enables for wasm32 by default; an older binaryen must be told, or it rewrites
# the externref table into something the JS glue cannot initialise. The module owns its memory,
# which starts zeroed, and rustc lays the stack out first, growing down from 1 MiB towards 0, so
# the lowest kilobyte is never used: both let wasm-opt drop stores and fold addresses (about
# 1.5 KB). The producers and target-features sections are for tools only.
"$wasm_opt" -Oz --enable-reference-types --enable-multivalue --enable-bulk-memory \
  --enable-nontrapping-float-to-int --enable-sign-ext --enable-mutable-globals \
  --zero-filled-memory --low-memory-unused --strip-producers --strip-target-features \
  -o "$wasm.opt" "$wasm"
mv "$wasm.opt" "$wasm"

cp wasm/js/api.js wasm/js/sketch.js wasm/js/options.js wasm/js/runtime.js wasm/js/index.js wasm/js/node.mjs wasm/js/workerd.mjs \
  wasm/js/index.d.ts wasm/npm/README.md wasm/npm/LICENSE-MIT "$out/"
cp wasm/js/index.d.ts "$out/index.d.cts"
cp /usr/share/common-licenses/Apache-2.0 "$out/LICENSE-APACHE"
# Node's CommonJS entry: the ESM entry built as one CommonJS file, its import.meta.url the file's
# own URL so that it finds the module beside it.
esbuild=wasm/node_modules/.bin/esbuild
[ -x "$esbuild" ] || { echo "build.sh: $esbuild is missing (run npm ci in wasm/)" >&2; exit 1; }
"$esbuild" "$out/node.mjs" --bundle --platform=node --format=cjs --log-level=warning \
  --define:import.meta.url=__om_url \
  --banner:js='const __om_url = require("node:url").pathToFileURL(__filename).href;' \
  --outfile="$out/node.cjs"

# repository and homepage come from the crate's Cargo.toml, the one place that names them.
repo=$(awk -F'"' '/^repository = / { print $2; exit }' Cargo.toml)
home=$(awk -F'"' '/^homepage = / { print $2; exit }' Cargo.toml)
links=""
[ -n "$repo" ] && links="  \"repository\": { \"type\": \"git\", \"url\": \"$repo\", \"directory\": \"wasm\" },"
[ -n "$home" ] && links="$links
  \"homepage\": \"$home\","
cat >"$out/package.json" <<JSON
{
  "name": "observer-metrics",
  "version": "$version",
  "description": "Prometheus metrics for JS and edge runtimes in WebAssembly: prom-client-shaped counters, gauges and histograms, pushed to a Pushgateway or remote-written to Prometheus, VictoriaMetrics, Mimir or Thanos.",
  "license": "MIT OR Apache-2.0",
$links
  "keywords": ["prometheus", "metrics", "pushgateway", "remote-write", "wasm", "cloudflare-workers", "prom-client"],
  "type": "module",
  "main": "./node.cjs",
  "module": "./index.js",
  "browser": "./index.js",
  "types": "./index.d.ts",
  "exports": {
    ".": {
      "workerd": { "types": "./index.d.ts", "default": "./workerd.mjs" },
      "node": {
        "import": { "types": "./index.d.ts", "default": "./node.mjs" },
        "require": { "types": "./index.d.cts", "default": "./node.cjs" }
      },
      "types": "./index.d.ts",
      "default": "./index.js"
    },
    "./observer_metrics_wasm_bg.wasm": "./observer_metrics_wasm_bg.wasm",
    "./package.json": "./package.json"
  },
  "files": ["*.js", "*.mjs", "*.cjs", "*.d.ts", "*.d.cts", "observer_metrics_wasm_bg.wasm", "README.md", "LICENSE-MIT", "LICENSE-APACHE"],
  "sideEffects": ["./workerd.mjs", "./node.mjs", "./node.cjs"]
}
JSON

# The optimised module must still load, through the package's own CommonJS entry.
node -e 'const { ObserverMetrics } = require("./wasm/pkg/npm/node.cjs"); new ObserverMetrics({}).render()' \
  || { echo "build.sh: the built package does not load in Node" >&2; exit 1; }

size() { wc -c <"$1" | tr -d ' '; }
bytes=$(size "$wasm")
gzipped=$(gzip -9 -c "$wasm" | wc -c | tr -d ' ')
echo "wasm sizes: before wasm-bindgen $(size "$raw") bytes; the module $bytes bytes ($gzipped gzipped)"

# A size gate, so the module does not grow back unnoticed: the budget of issue 11 (250 KB raw,
# 100 KB gzipped).
raw_limit=250000
gzip_limit=100000
[ "$bytes" -le "$raw_limit" ] || { echo "build.sh: the module is $bytes bytes, over the $raw_limit-byte budget" >&2; exit 1; }
[ "$gzipped" -le "$gzip_limit" ] || { echo "build.sh: the module is $gzipped bytes gzipped, over the $gzip_limit-byte budget" >&2; exit 1; }
