#!/usr/bin/env bash
# Generates deploy/kubernetes/prometheusrule.yaml from deploy/prometheus/alerts.yml, so that the
# Prometheus Operator gets exactly the rules that plain Prometheus loads.
#   bash deploy/validate/gen-prometheusrule.sh            # rewrite the file
#   bash deploy/validate/gen-prometheusrule.sh --check    # exit 1 if the file is out of date
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
src="$here/prometheus/alerts.yml"
dst="$here/kubernetes/prometheusrule.yaml"

render() {
  cat <<'HEADER'
# GENERATED from deploy/prometheus/alerts.yml by deploy/validate/gen-prometheusrule.sh; do not edit.
# Add the labels your Prometheus' ruleSelector expects (kube-prometheus-stack: release: <name>).
apiVersion: monitoring.coreos.com/v1
kind: PrometheusRule
metadata:
  name: origin-exporter
  labels:
    app.kubernetes.io/name: origin-exporter
    app.kubernetes.io/component: exporter
spec:
HEADER
  # Indent every non-empty line by two spaces: alerts.yml's `groups:` becomes `spec.groups`.
  sed -e 's/^\(.\)/  \1/' "$src"
}

if [[ "${1:-}" == "--check" ]]; then
  if ! diff -u "$dst" <(render) >&2; then
    echo "FAIL: $dst is not generated from $src; run: bash deploy/validate/gen-prometheusrule.sh" >&2
    exit 1
  fi
  echo "ok: prometheusrule.yaml matches alerts.yml"
else
  render > "$dst"
  echo "wrote $dst"
fi
