#!/usr/bin/env bash
# Installs what the test suite needs when it is missing: Debian packages and rustup components.
set -euo pipefail

# shellcheck source=deploy/validate/lib.sh
source "$(dirname "$0")/../deploy/validate/lib.sh" # ensure_apt
ensure_apt openssl:openssl promtool:prometheus curl:curl
ensure_apt go:golang-go # tests/lab/go: the Go crypto/tls origin of tests/tls.rs
for component in rustfmt clippy; do
  rustup component list --installed 2>/dev/null | grep -q "^$component" || rustup component add "$component"
done
echo "openssl: $(openssl version)"
echo "promtool: $(promtool --version 2>&1 | head -n1)"
