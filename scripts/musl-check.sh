#!/usr/bin/env bash
# The static build, checked by hand (not a step of scripts/test.sh: a build for a second target
# recompiles every dependency, 831 s of CPU, 21m52s on the shared 2-core test machine, more than
# the 10 minutes the suite may spend on it). Run it before a release or after changing
# dependencies, allocators or build settings:
#   bash scripts/musl-check.sh
# Builds origin_exporter for x86_64-unknown-linux-musl (what deploy/docker/Dockerfile.scratch
# ships), checks that it is static, and runs it: --version, `config check` of config.yaml, and
# `check` of an OpenSSL s_server on 127.0.0.1 (TCP, both TLS clients, HTTP), the last also in an
# empty root holding only the binary (chroot, when allowed).
set -euo pipefail
cd "$(dirname "$0")/.."
# shellcheck source=deploy/validate/lib.sh
source deploy/validate/lib.sh # ensure_apt, cargo_target_dir, free_port, log, fail

TARGET=x86_64-unknown-linux-musl
ensure_apt musl-gcc:musl-tools openssl:openssl python3:python3
rustup target list --installed | grep -qx "$TARGET" || rustup target add "$TARGET" ||
  fail "rustup target add $TARGET failed (no access to the rustup server?)"

log "cargo build --target $TARGET"
start=$SECONDS
cargo build --locked --target "$TARGET" --bin origin_exporter || fail "cargo build --target $TARGET"
log "built in $((SECONDS - start)) s"
bin="$(cargo_target_dir)/$TARGET/debug/origin_exporter"
case "$(ldd "$bin" 2>&1 || true)" in
*"statically linked"* | *"not a dynamic executable"*) ;;
*) fail "$bin is not static: $(ldd "$bin" 2>&1)" ;;
esac
"$bin" --version
"$bin" config check --config.file=config.yaml

work="$(mktemp -d)"
trap 'kill "${server:-0}" 2>/dev/null || true; rm -rf "$work"' EXIT
openssl req -x509 -newkey rsa:2048 -nodes -keyout "$work/key.pem" -out "$work/cert.pem" -days 365 \
  -subj /CN=lab.test -addext subjectAltName=DNS:lab.test 2>/dev/null
port=$(free_port)
openssl s_server -accept "127.0.0.1:$port" -cert "$work/cert.pem" -key "$work/key.pem" -www -quiet \
  </dev/null >/dev/null 2>&1 &
server=$!
for _ in $(seq 100); do
  (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null && break
  sleep 0.1
done
cat >"$work/config.yaml" <<YAML
global: {interval: 30s, timeout: 5s, ca_file: /cert.pem, resolvers: ['127.0.0.1:53']}
origins:
  - {name: lab, domain: lab.test, address: 127.0.0.1, https_port: $port, checks: [tcp, tls, http], http: {path: /}}
YAML
sed "s|ca_file: /cert.pem|ca_file: $work/cert.pem|" "$work/config.yaml" >"$work/host.yaml"
out=$("$bin" --config.file="$work/host.yaml" check) || fail "check of the loopback origin: $out"
grep -q "lab (lab.test): CDN READY" <<<"$out" || fail "check: $out"
echo "ok: the static binary probes a loopback OpenSSL origin (TCP, TLS, HTTP)"

# In an empty root: the binary, its config and the CA it names, nothing else (no libc, no loader).
root="$work/root"
mkdir -p "$root"
cp "$bin" "$root/origin_exporter"
cp "$work/config.yaml" "$root/config.yaml"
cp "$work/cert.pem" "$root/cert.pem"
if chroot "$root" /origin_exporter --version >/dev/null 2>&1; then
  out=$(chroot "$root" /origin_exporter --config.file=/config.yaml check) || fail "check in an empty root: $out"
  grep -q "CDN READY" <<<"$out" || fail "check in an empty root: $out"
  echo "ok: it runs in an empty root (as in a scratch image)"
else
  echo "note: chroot not allowed here; the empty-root run was skipped (the build and the run above passed)"
fi
