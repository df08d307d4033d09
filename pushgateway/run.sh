#!/usr/bin/env bash
# Starts a local Pushgateway on loopback (memory only) and, with --with-prometheus, a Prometheus that
# scrapes it with honor_labels: true and loads rules.yml. Runs in the foreground; Ctrl-C stops both.
#
#   pushgateway/run.sh [--port 9091] [--with-prometheus] [--prometheus-port 9090]
#
# Needs the Debian packages prometheus-pushgateway (and prometheus for --with-prometheus).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
port=9091
prom_port=9090
with_prometheus=false
while [ $# -gt 0 ]; do
  case "$1" in
    --port) port=$2; shift 2 ;;
    --prometheus-port) prom_port=$2; shift 2 ;;
    --with-prometheus) with_prometheus=true; shift ;;
    -h|--help) sed -n '2,8p' "$0"; exit 0 ;;
    *) echo "run.sh: unknown argument $1" >&2; exit 2 ;;
  esac
done
command -v prometheus-pushgateway >/dev/null \
  || { echo "run.sh: prometheus-pushgateway is not installed (apt-get install -y prometheus-pushgateway)" >&2; exit 1; }

pids=()
work=$(mktemp -d)
cleanup() { kill "${pids[@]}" 2>/dev/null || true; wait 2>/dev/null || true; rm -rf "$work"; }
trap cleanup EXIT INT TERM

# Debian's build persists to /var/lib/prometheus by default; a throwaway gateway keeps nothing.
prometheus-pushgateway --web.listen-address="127.0.0.1:$port" --persistence.file= &
pids+=($!)
echo "Pushgateway: http://127.0.0.1:$port"

if $with_prometheus; then
  command -v prometheus >/dev/null \
    || { echo "run.sh: prometheus is not installed (apt-get install -y prometheus)" >&2; exit 1; }
  cp "$here/rules.yml" "$work/rules.yml"
  cat >"$work/prometheus.yml" <<CONF
global:
  scrape_interval: 5s
  evaluation_interval: 5s
rule_files: [rules.yml]
scrape_configs:
  - job_name: pushgateway
    honor_labels: true
    static_configs:
      - targets: ["127.0.0.1:$port"]
CONF
  prometheus --config.file="$work/prometheus.yml" --storage.tsdb.path="$work/data" \
    --web.listen-address="127.0.0.1:$prom_port" >"$work/prometheus.log" 2>&1 &
  pids+=($!)
  echo "Prometheus:  http://127.0.0.1:$prom_port (log: $work/prometheus.log)"
fi
wait -n "${pids[@]}"
