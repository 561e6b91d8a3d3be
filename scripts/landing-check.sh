#!/usr/bin/env bash
# Renders the landing page in headless Chromium against a loopback lab (healthy, closed port,
# self-signed and expired TLS) and checks what a person would see: every origin, its verdict
# and causes, broken ones first. Leaves the screenshot in target/landing.png.
set -euo pipefail
cd "$(dirname "$0")/.."

# shellcheck source=deploy/validate/lib.sh
source deploy/validate/lib.sh # ensure_apt, free_port, wait_http, cargo_target_dir
ensure_apt chromium:chromium openssl:openssl curl:curl
bin="$(build_exporter)"
work=$(mktemp -d)
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null; rm -rf "$work"; }
trap cleanup EXIT

port=$(free_port); closed=$(free_port); selfsigned=$(free_port); expired=$(free_port)

# Certificates: one self-signed for the wrong name, one expired (issued by a lab CA in ca_file).
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 30 -subj "/CN=other.lab.test" \
  -addext "subjectAltName=DNS:other.lab.test" -keyout "$work/ss.key" -out "$work/ss.pem" 2>/dev/null
(
  cd "$work"
  ec=(-newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes)
  openssl req -x509 "${ec[@]}" -days 365 -subj "/CN=Lab CA" -keyout ca.key -out ca.pem
  openssl req "${ec[@]}" -subj "/CN=expired.lab.test" -addext "subjectAltName=DNS:expired.lab.test" \
    -keyout exp.key -out exp.csr
  # `openssl ca` sets any validity window (OpenSSL 3.0's x509 cannot backdate).
  printf '[ca]\ndefault_ca=lab\n[lab]\ndatabase=index.txt\nnew_certs_dir=.\nserial=serial\ndefault_md=sha256\npolicy=pol\ncopy_extensions=copy\nunique_subject=no\n[pol]\ncommonName=supplied\n' >ca.cnf
  : >index.txt
  echo 1001 >serial
  openssl ca -batch -config ca.cnf -cert ca.pem -keyfile ca.key -in exp.csr -out exp.pem \
    -startdate 20250101000000Z -enddate 20250201000000Z -notext
) >"$work/pki.log" 2>&1 || { cat "$work/pki.log"; exit 1; }
timeout 120 openssl s_server -quiet -accept "127.0.0.1:$selfsigned" -cert "$work/ss.pem" -key "$work/ss.key" -www >/dev/null 2>&1 &
pids+=($!)
timeout 120 openssl s_server -quiet -accept "127.0.0.1:$expired" -cert "$work/exp.pem" -key "$work/exp.key" -www >/dev/null 2>&1 &
pids+=($!)

cat > "$work/config.yaml" <<YAML
global: {interval: 2s, timeout: 1s, ca_file: $work/ca.pem}
origins:
  - {name: healthy-port, domain: healthy.lab.test, address: 127.0.0.1, https_port: $port, checks: [tcp]}
  - {name: closed, domain: closed.lab.test, address: 127.0.0.1, https_port: $closed, checks: [tcp, tls]}
  - {name: self-signed, domain: shop.lab.test, host_header: www.shop.lab.test, address: 127.0.0.1, https_port: $selfsigned, checks: [tcp, tls]}
  - {name: expired, domain: expired.lab.test, address: 127.0.0.1, https_port: $expired, checks: [tcp, tls]}
YAML
"$bin" --config.file="$work/config.yaml" --web.listen-address="127.0.0.1:$port" --log.level=warn &
pids+=($!)
wait_http "http://127.0.0.1:$port/-/ready" 20 || { echo "landing page: exporter never ready"; exit 1; }

chrome=(chromium --headless --no-sandbox --disable-gpu --disable-quic --no-first-run
  --disable-background-networking --disable-component-update --disable-sync
  --user-data-dir="$work/chrome" --window-size=1400,700)
timeout 60 "${chrome[@]}" --dump-dom "http://127.0.0.1:$port/" > "$work/dom.html" 2>/dev/null
timeout 60 "${chrome[@]}" --screenshot="$work/landing.png" "http://127.0.0.1:$port/" >/dev/null 2>&1
mkdir -p target && cp "$work/landing.png" target/landing.png

fail() { echo "landing page: $*"; cat "$work/dom.html"; exit 1; }
for needle in "3 not ready" "healthy-port" "closed" "port_unreachable" "self-signed" "cert_self_signed" \
  "cert_hostname_mismatch" "Host: www.shop.lab.test" "expired" "cert_expired" "days ago" \
  'href="/probe?origin=closed"' 'href="/metrics"'; do
  grep -qF -- "$needle" "$work/dom.html" || fail "lacks $needle"
done
# Broken origins are listed before healthy ones.
first=$(grep -o '<tr class="[A-Za-z]*"' "$work/dom.html" | head -n1)
last=$(grep -o '<tr class="[A-Za-z]*"' "$work/dom.html" | tail -n1)
[ "$first" = '<tr class="NotReady"' ] || fail "first row is $first, not a NOT READY origin"
[ "$last" = '<tr class="Ready"' ] || fail "last row is $last, not a ready origin"
# The screenshot is a real PNG of the page's size.
python3 - "$work/landing.png" <<'PY'
import struct, sys
data = open(sys.argv[1], "rb").read()
assert data[:8] == b"\x89PNG\r\n\x1a\n", "not a PNG"
w, h = struct.unpack(">II", data[16:24])
assert (w, h) == (1400, 700), (w, h)
assert len(data) > 20_000, f"suspiciously small screenshot: {len(data)} bytes"
print(f"landing page: screenshot {w}x{h}, {len(data)} bytes (target/landing.png)")
PY
echo "landing page: every origin, verdict and cause rendered in Chromium; broken origins first"
