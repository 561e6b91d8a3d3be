#!/usr/bin/env bash
# Installs what the test suite needs when it is missing: Debian packages and rustup components.
set -euo pipefail

packages=()
command -v openssl >/dev/null || packages+=(openssl)
command -v promtool >/dev/null || packages+=(prometheus)
command -v curl >/dev/null || packages+=(curl)
if [ ${#packages[@]} -gt 0 ]; then
  echo "installing: ${packages[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  # --no-install-recommends and no service start: only the binaries are needed.
  apt-get install -y -qq --no-install-recommends "${packages[@]}" >/dev/null
fi
for component in rustfmt clippy; do
  rustup component list --installed 2>/dev/null | grep -q "^$component" || rustup component add "$component"
done
echo "openssl: $(openssl version)"
echo "promtool: $(promtool --version 2>&1 | head -n1)"
