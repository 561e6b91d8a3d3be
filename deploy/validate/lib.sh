# shellcheck shell=bash disable=SC2034  # variables here are used by the scripts that source it
# Shared by deploy/validate.sh and deploy/e2e.sh (sourced, not run).
# Installs what the checks need when it is missing, builds the exporter, and small helpers.

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
VALIDATE_DIR="$ROOT/deploy/validate"

log() { printf '%s %s\n' "$(date -u +%H:%M:%S)" "$*"; }
fail() {
  printf 'FAIL: %s\n' "$*" >&2
  exit 1
}

as_root() {
  if [[ $(id -u) -eq 0 ]]; then "$@"; elif command -v sudo >/dev/null; then sudo "$@"; else
    fail "need root (or sudo) to run: $*"
  fi
}

# apt packages, installed only if one of their commands is missing.
ensure_apt() { # ensure_apt COMMAND:PACKAGE...
  local want=() pair
  for pair in "$@"; do
    command -v "${pair%%:*}" >/dev/null 2>&1 || want+=("${pair#*:}")
  done
  ((${#want[@]})) || return 0
  command -v apt-get >/dev/null || fail "missing ${want[*]} and no apt-get to install them"
  log "installing Debian packages: ${want[*]}"
  as_root timeout 300 apt-get update -qq || fail "apt-get update failed"
  as_root env DEBIAN_FRONTEND=noninteractive timeout 600 \
    apt-get install -y -qq --no-install-recommends "${want[@]}" >/dev/null ||
    fail "apt-get install ${want[*]} failed"
  hash -r
}

# PyPI packages, installed only if their command (or module) is missing.
ensure_pip() { # ensure_pip COMMAND:PACKAGE... (COMMAND "py:MODULE" means a Python module)
  local want=() pair cmd
  for pair in "$@"; do
    cmd="${pair%%:*}"
    if [[ $cmd == py ]]; then
      local rest="${pair#py:}"
      python3 -c "import ${rest%%:*}" 2>/dev/null || want+=("${rest#*:}")
    else
      command -v "$cmd" >/dev/null 2>&1 || want+=("${pair#*:}")
    fi
  done
  ((${#want[@]})) || return 0
  log "installing PyPI packages: ${want[*]}"
  timeout 300 python3 -m pip install -q --disable-pip-version-check "${want[@]}" 2>/dev/null ||
    timeout 300 python3 -m pip install -q --disable-pip-version-check --break-system-packages "${want[@]}" ||
    fail "pip install ${want[*]} failed"
  PATH="$PATH:$(python3 -m site --user-base)/bin"
  hash -r
}

ensure_base_tools() {
  ensure_apt python3:python3 curl:curl promtool:prometheus
  command -v pip3 >/dev/null 2>&1 || python3 -m pip --version >/dev/null 2>&1 || ensure_apt pip3:python3-pip
  ensure_pip py:yaml:pyyaml
}

# The exporter binary: $EXPORTER_BIN, else a debug build of this tree (a no-op when fresh).
ensure_exporter() {
  if [[ -n "${EXPORTER_BIN:-}" ]]; then
    [[ -x "$EXPORTER_BIN" ]] || fail "EXPORTER_BIN=$EXPORTER_BIN is not executable"
    EXPORTER="$EXPORTER_BIN"
    return
  fi
  log "building the exporter (cargo build; a no-op when up to date)"
  (cd "$ROOT" && timeout 1200 cargo build --quiet --bin origin_exporter) || fail "cargo build failed"
  EXPORTER="$ROOT/target/debug/origin_exporter"
}

# A TCP port free on 127.0.0.1 now.
free_port() {
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}

# wait_http URL SECONDS [EXPECTED_CODE]: polls until URL answers EXPECTED_CODE (default 200).
wait_http() {
  local url=$1 expected=${3:-200} code deadline=$((SECONDS + $2))
  while ((SECONDS < deadline)); do
    code=$(curl -s -o /dev/null -m 2 -w '%{http_code}' "$url" || true)
    [[ $code == "$expected" ]] && return 0
    sleep 0.3
  done
  return 1
}
