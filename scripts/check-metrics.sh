#!/usr/bin/env bash
# Starts the exporter on loopback against loopback origins, scrapes /metrics in both formats,
# and runs `promtool check metrics` on the Prometheus text scrape.
set -euo pipefail
cd "$(dirname "$0")/.."

cargo build --locked --quiet
bin=target/debug/origin_exporter
dir=$(mktemp -d)
pid=""
cleanup() { [ -n "$pid" ] && kill "$pid" 2>/dev/null; wait 2>/dev/null; rm -rf "$dir"; }
trap cleanup EXIT

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
port=$(free_port)
closed=$(free_port)
cat > "$dir/config.yaml" <<YAML
global: {interval: 1s, timeout: 500ms, resolvers: ["127.0.0.1:$closed"], dns_port: $closed}
origins:
  # The exporter's own port stands in for an open origin port; nothing listens on the other.
  - {name: self, domain: self.lab.test, address: 127.0.0.1, https_port: $port, checks: [tcp], labels: {team: ci}}
  - {name: closed, domain: closed.lab.test, address: 127.0.0.1, https_port: $closed, checks: [tcp]}
YAML
"$bin" --config.file="$dir/config.yaml" --web.listen-address="127.0.0.1:$port" --log.level=warn &
pid=$!

for _ in $(seq 1 100); do
  if curl -fsS "http://127.0.0.1:$port/-/ready" >/dev/null 2>&1; then break; fi
  sleep 0.1
done
curl -fsS "http://127.0.0.1:$port/-/ready" >/dev/null

curl -fsS "http://127.0.0.1:$port/metrics" > "$dir/metrics.txt"
curl -fsS -H 'Accept: application/openmetrics-text; version=1.0.0' "http://127.0.0.1:$port/metrics" > "$dir/metrics.om"
grep -qx 'origin_cdn_ready{origin="closed"} 0' "$dir/metrics.txt" \
  || { echo "expected origin_cdn_ready for closed = 0"; cat "$dir/metrics.txt"; exit 1; }
tail -n1 "$dir/metrics.om" | grep -qx '# EOF' || { echo "OpenMetrics scrape lacks # EOF"; exit 1; }

if ! promtool check metrics < "$dir/metrics.txt"; then
  echo "promtool check metrics failed on:"; cat "$dir/metrics.txt"; exit 1
fi
echo "promtool check metrics: OK ($(grep -vc '^#' "$dir/metrics.txt") series)"
