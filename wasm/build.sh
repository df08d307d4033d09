#!/usr/bin/env bash
# Builds the wasm package: wasm/pkg/node (CommonJS, for Node) and wasm/pkg/web (ES module, for
# browsers, Deno and edge workers), each a ready npm package directory, then reports the sizes.
# Needs the wasm32-unknown-unknown target and wasm-bindgen-cli at the Cargo.lock version, and
# binaryen's wasm-opt from wasm/package.json (`npm ci` in wasm/); the README's test command
# installs all three. Debian's binaryen 108 is too old: it breaks the externref table.
set -euo pipefail
cd "$(dirname "$0")/.."

want=$(awk '/^name = "wasm-bindgen"$/ { getline; gsub(/"/, "", $3); print $3 }' Cargo.lock | head -n 1)
have=$(wasm-bindgen --version 2>/dev/null | awk '{print $2}')
[ "$have" = "$want" ] || { echo "build.sh: wasm-bindgen $want is needed (found: ${have:-none}): cargo install wasm-bindgen-cli --version $want" >&2; exit 1; }

cargo build -p observer-metrics-wasm --target wasm32-unknown-unknown --profile wasm-release --quiet
raw=${CARGO_TARGET_DIR:-target}/wasm32-unknown-unknown/wasm-release/observer_metrics_wasm.wasm
version=$(awk -F'"' '/^version = / { print $2; exit }' wasm/Cargo.toml)

for target in node web; do
  out=wasm/pkg/$target
  rm -rf "$out"
  bindgen_target=$([ "$target" = node ] && echo nodejs || echo web)
  wasm-bindgen --target "$bindgen_target" --out-dir "$out" "$raw"
  cat wasm/js/keep-started-alive.js >>"$out/observer_metrics_wasm.js"
  wasm=$out/observer_metrics_wasm_bg.wasm
  wasm_opt=wasm/node_modules/.bin/wasm-opt
  if [ -x "$wasm_opt" ]; then
    # The features rustc enables for wasm32 by default; an older binaryen must be told, or it
    # rewrites the externref table into something the JS glue cannot initialise. The module owns
    # its memory, which starts zeroed, and rustc lays the stack out first, growing down from 1 MiB
    # towards 0, so the lowest kilobyte is never used: both let wasm-opt drop stores and fold
    # addresses (about 1.5 KB). The producers and target-features sections are for tools only.
    "$wasm_opt" -Oz --enable-reference-types --enable-multivalue --enable-bulk-memory \
      --enable-nontrapping-float-to-int --enable-sign-ext --enable-mutable-globals \
      --zero-filled-memory --low-memory-unused --strip-producers --strip-target-features \
      -o "$wasm.opt" "$wasm"
    mv "$wasm.opt" "$wasm"
  else
    echo "build.sh: $wasm_opt is missing (run npm ci in wasm/)" >&2
    exit 1
  fi
  if [ "$target" = node ]; then
    entry='"main": "observer_metrics_wasm.js"'
  else
    entry='"type": "module", "module": "observer_metrics_wasm.js", "main": "observer_metrics_wasm.js"'
  fi
  cat >"$out/package.json" <<JSON
{
  "name": "observer-metrics-wasm-$target",
  "version": "$version",
  "description": "Prometheus metrics for event observers at the edge: record the catalogue, push to a Pushgateway ($target build).",
  "license": "MIT OR Apache-2.0",
  $entry,
  "types": "observer_metrics_wasm.d.ts",
  "files": ["observer_metrics_wasm.js", "observer_metrics_wasm.d.ts", "observer_metrics_wasm_bg.wasm", "observer_metrics_wasm_bg.wasm.d.ts"],
  "sideEffects": false
}
JSON
done

# The npm package: both builds behind one exports map (require and import in Node, the workerd
# condition for Cloudflare Workers, the web build for browsers and bundlers), with types, the
# version from Cargo.toml, a README and the license.
npm=wasm/pkg/npm
rm -rf "$npm"
mkdir -p "$npm"
for target in node web; do
  cp -r "wasm/pkg/$target" "$npm/$target"
  kind=$([ "$target" = node ] && echo commonjs || echo module)
  printf '{ "type": "%s" }\n' "$kind" >"$npm/$target/package.json"
done
cp wasm/npm/node.mjs wasm/npm/node.d.mts wasm/npm/workerd.mjs wasm/npm/workerd.d.ts \
  wasm/npm/README.md wasm/npm/LICENSE-MIT "$npm/"
cat >"$npm/package.json" <<JSON
{
  "name": "observer-metrics",
  "version": "$version",
  "description": "Prometheus metrics for event observers at the edge: the observer catalogue and any metric, pushed to a Pushgateway or remote-written to Prometheus, VictoriaMetrics, Mimir or Thanos.",
  "license": "MIT OR Apache-2.0",
  "keywords": ["prometheus", "metrics", "pushgateway", "remote-write", "wasm", "cloudflare-workers"],
  "main": "./node/observer_metrics_wasm.js",
  "types": "./web/observer_metrics_wasm.d.ts",
  "exports": {
    ".": {
      "workerd": { "types": "./workerd.d.ts", "default": "./workerd.mjs" },
      "node": {
        "import": { "types": "./node.d.mts", "default": "./node.mjs" },
        "require": { "types": "./node/observer_metrics_wasm.d.ts", "default": "./node/observer_metrics_wasm.js" }
      },
      "types": "./web/observer_metrics_wasm.d.ts",
      "default": "./web/observer_metrics_wasm.js"
    },
    "./package.json": "./package.json"
  },
  "files": ["node", "web", "node.mjs", "node.d.mts", "workerd.mjs", "workerd.d.ts", "README.md", "LICENSE-MIT"],
  "sideEffects": ["./workerd.mjs"]
}
JSON

# The optimised module must still load.
node -e 'const { ObserverMetrics } = require("./wasm/pkg/node/observer_metrics_wasm.js"); new ObserverMetrics({}).render()' \
  || { echo "build.sh: the built Node package does not load" >&2; exit 1; }

size() { wc -c <"$1" | tr -d ' '; }
echo "wasm sizes: before wasm-bindgen $(size "$raw") bytes;" \
  "node $(size wasm/pkg/node/observer_metrics_wasm_bg.wasm) bytes ($(gzip -9 -c wasm/pkg/node/observer_metrics_wasm_bg.wasm | wc -c | tr -d ' ') gzipped);" \
  "web $(size wasm/pkg/web/observer_metrics_wasm_bg.wasm) bytes ($(gzip -9 -c wasm/pkg/web/observer_metrics_wasm_bg.wasm | wc -c | tr -d ' ') gzipped)"

# A size gate, so the module does not grow back unnoticed: the budget of issue 11 (250 KB raw,
# 100 KB gzipped; its CI floor was 300 KB raw).
raw_limit=250000
gzip_limit=100000
for target in node web; do
  module=wasm/pkg/$target/observer_metrics_wasm_bg.wasm
  bytes=$(size "$module")
  gzipped=$(gzip -9 -c "$module" | wc -c | tr -d ' ')
  [ "$bytes" -le "$raw_limit" ] || { echo "build.sh: the $target module is $bytes bytes, over the $raw_limit-byte budget" >&2; exit 1; }
  [ "$gzipped" -le "$gzip_limit" ] || { echo "build.sh: the $target module is $gzipped bytes gzipped, over the $gzip_limit-byte budget" >&2; exit 1; }
done
