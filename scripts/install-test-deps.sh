#!/usr/bin/env bash
# Installs what the test suite needs when it is missing: Debian packages, rustup components and the
# Python virtual environment (.venv-test/, or $TEST_VENV) that the deploy checks install their PyPI
# tools into, with the AWS fake the discovery tests run (moto, boto3: tests/lab/aws.rs, pinned
# there too). `cargo test` installs nothing: a test whose tool is missing fails and points here.
# The other tools are installed by the step that uses them (scripts/landing-check.sh,
# deploy/validate.sh, deploy/e2e.sh), each only when missing.
set -euo pipefail

# shellcheck source=deploy/validate/lib.sh
source "$(dirname "$0")/../deploy/validate/lib.sh" # ensure_apt, ensure_venv
ensure_apt openssl:openssl promtool:prometheus curl:curl
ensure_apt go:golang-go # tests/lab/go: the Go crypto/tls origin of tests/tls.rs
ensure_apt nginx:nginx # tests/lab/nginx.rs: the nginx origin
ensure_apt javac:default-jdk-headless # tests/lab/java: the JSSE origin
# tests/lab/blackbox.rs: blackbox_exporter, what tests/blackbox.rs compares `compat: [blackbox]` with.
ensure_apt prometheus-blackbox-exporter:prometheus-blackbox-exporter
# tests/lab/lighttpd.rs and tests/lab/stacks.rs: the server stacks of tests/mtls_stacks.rs
# (docs/mtls.md); gnutls-serv runs in a network namespace of its own (unshare, ip) behind socat.
PATH="$PATH:/usr/sbin:/sbin"
ensure_apt apache2:apache2 haproxy:haproxy caddy:caddy lighttpd:lighttpd node:nodejs \
  gnutls-serv:gnutls-bin socat:socat ip:iproute2 unshare:util-linux
# lighttpd's TLS modules are files, not commands.
for module in mbedtls openssl gnutls; do
  [[ -e /usr/lib/lighttpd/mod_$module.so ]] || apt_install "lighttpd-mod-$module"
done
for component in rustfmt clippy; do
  rustup component list --installed 2>/dev/null | grep -q "^$component" || rustup component add "$component"
done
ensure_venv
# tests/discovery.rs, benches/discovery.rs: moto's server and boto3 (keep in step with tests/lab/aws.rs).
ensure_pip 'moto_server:moto[server]==5.2.5' py:boto3:boto3==1.44.8
echo "openssl: $(openssl version)"
echo "promtool: $(promtool --version 2>&1 | head -n1)"
echo "java: $(java -version 2>&1 | head -n1)"
echo "blackbox_exporter: $(prometheus-blackbox-exporter --version 2>&1 | head -n1)"
echo "lighttpd: $(lighttpd -v 2>&1 | head -n1)"
echo "python venv: $TEST_VENV ($(python3 --version)); moto $("$TEST_VENV/bin/python3" -c 'import importlib.metadata as m; print(m.version("moto"))')"
