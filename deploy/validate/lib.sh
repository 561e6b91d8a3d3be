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

# apt_install PACKAGE...: installs Debian packages (each named once, however often given).
apt_install() {
  local want=() pkg
  for pkg in "$@"; do
    [[ " ${want[*]} " == *" $pkg "* ]] || want+=("$pkg")
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

# apt packages, installed only if one of their commands is missing.
ensure_apt() { # ensure_apt COMMAND:PACKAGE...
  local want=() pair
  for pair in "$@"; do
    command -v "${pair%%:*}" >/dev/null 2>&1 || want+=("${pair#*:}")
  done
  apt_install "${want[@]}"
}

# The checks' PyPI tools live in a virtual environment of their own, created on first use and
# reused: $TEST_VENV, by default .venv-test/ at the repository root (git-ignored). Nothing goes
# into the system Python. ensure_venv puts its bin/ first on PATH, so `python3` in the scripts
# is the venv's (it sees the system's packages only through the venv's own).
TEST_VENV="${TEST_VENV:-$ROOT/.venv-test}"
ensure_venv() {
  if ! "$TEST_VENV/bin/python3" -c 'import sys' >/dev/null 2>&1; then
    ensure_apt python3:python3
    rm -rf "$TEST_VENV"
    log "creating the Python virtual environment $TEST_VENV"
    # Debian's python3 needs python3-venv (ensurepip) for this.
    if ! python3 -m venv "$TEST_VENV" >/dev/null 2>&1; then
      rm -rf "$TEST_VENV"
      apt_install python3-venv
      timeout 300 python3 -m venv "$TEST_VENV" || fail "python3 -m venv $TEST_VENV failed"
    fi
  fi
  [[ ":$PATH:" == *":$TEST_VENV/bin:"* ]] || export PATH="$TEST_VENV/bin:$PATH"
  hash -r
}

# try_pip COMMAND:PACKAGE...: installs into the venv the packages whose command (in the venv's
# bin/) or module is missing; COMMAND "py:MODULE" means a Python module. A PACKAGE pinned as
# NAME==VERSION is also reinstalled when another version is there. Returns non-zero on failure.
try_pip() {
  ensure_venv
  local want=() pair cmd pkg py="$TEST_VENV/bin/python3"
  for pair in "$@"; do
    cmd="${pair%%:*}"
    if [[ $cmd == py ]]; then
      local rest="${pair#py:}"
      pkg="${rest#*:}"
      "$py" -c "import ${rest%%:*}" 2>/dev/null || { want+=("$pkg"); continue; }
    else
      pkg="${pair#*:}"
      [[ -x $TEST_VENV/bin/$cmd ]] || { want+=("$pkg"); continue; }
    fi
    if [[ $pkg == *==* ]]; then
      local name="${pkg%%==*}"
      # The distribution's name without extras: moto[server] is installed as moto.
      "$py" -c 'import sys, importlib.metadata as m; sys.exit(m.version(sys.argv[1]) != sys.argv[2])' \
        "${name%%\[*}" "${pkg#*==}" 2>/dev/null || want+=("$pkg")
    fi
  done
  ((${#want[@]})) || return 0
  log "installing PyPI packages into $TEST_VENV: ${want[*]}"
  timeout 600 "$py" -m pip install -q --disable-pip-version-check "${want[@]}" || return 1
  hash -r
}

# ensure_pip COMMAND:PACKAGE...: as try_pip, but a failure ends the script.
ensure_pip() {
  try_pip "$@" || fail "pip install (into $TEST_VENV) of $* failed"
}

ensure_base_tools() {
  ensure_apt python3:python3 curl:curl promtool:prometheus
  ensure_pip py:yaml:pyyaml
}

# Cargo's target directory (honours CARGO_TARGET_DIR and .cargo/config.toml).
cargo_target_dir() {
  local meta
  meta=$(cd "$ROOT" && cargo metadata --format-version 1 --no-deps --offline 2>/dev/null) ||
    meta=$(cd "$ROOT" && cargo metadata --format-version 1 --no-deps) || fail "cargo metadata failed"
  meta=${meta#*\"target_directory\":\"}
  printf '%s\n' "${meta%%\"*}"
}

# The debug binary as `cargo test --all-targets` builds it (a no-op after the suite's cargo test
# step). Not `cargo build`: the dev-dependencies' features (tokio's test-util, hyper-util's
# client-legacy) are unified into a test build only, so a plain build recompiles tokio and every
# crate above it a second time (11 minutes of a fresh clone's test command on two cores).
build_exporter() {
  (cd "$ROOT" && timeout 1800 cargo test --locked --all-targets --no-run --quiet) || return 1
  printf '%s\n' "$(cargo_target_dir)/debug/origin_exporter"
}

# The exporter binary: $EXPORTER_BIN, else the test build's (see build_exporter).
ensure_exporter() {
  if [[ -n "${EXPORTER_BIN:-}" ]]; then
    [[ -x "$EXPORTER_BIN" ]] || fail "EXPORTER_BIN=$EXPORTER_BIN is not executable"
    EXPORTER="$EXPORTER_BIN"
    return
  fi
  log "building the exporter (cargo test --no-run; a no-op when up to date)"
  EXPORTER="$(build_exporter)" || fail "cargo test --no-run failed"
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
