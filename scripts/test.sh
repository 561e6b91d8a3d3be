#!/usr/bin/env bash
# The whole test suite, as CI runs it. Installs what the tests need on a fresh Debian machine.
set -euo pipefail
cd "$(dirname "$0")/.."

step() { printf '\n=== %s\n' "$*"; }

step "tools"
scripts/install-test-deps.sh

step "cargo fmt --check"
cargo fmt --check

step "cargo clippy"
cargo clippy --all-targets --locked -- -D warnings

step "cargo test"
cargo test --all-targets --locked

step "landing page in headless Chromium (scripts/landing-check.sh)"
bash scripts/landing-check.sh

step "deploy: alert rules, live promtool check metrics, manifests, unit, Dockerfile, dashboards (deploy/validate.sh)"
bash deploy/validate.sh

step "deploy: end to end with Prometheus and Alertmanager (deploy/e2e.sh)"
bash deploy/e2e.sh
