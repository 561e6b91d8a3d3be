#!/usr/bin/env bash
# The whole test suite, as CI runs it. Installs what the tests need on a fresh Debian machine.
# Prints each step's duration, and at the end a summary table (step, seconds, ok/FAILED); stops
# at the first failing step, prints the summary all the same, and exits non-zero.
# Not a step here: the static (musl) build, `bash scripts/musl-check.sh`, checked by hand (a
# second target recompiles every dependency; see the README's Docker section).
set -euo pipefail
cd "$(dirname "$0")/.."

STEPS=( # "NAME|COMMAND"
  "tools (scripts/install-test-deps.sh)|scripts/install-test-deps.sh"
  "cargo fmt --check|cargo fmt --check"
  "cargo clippy|cargo clippy --all-targets --locked -- -D warnings"
  "cargo test|cargo test --all-targets --locked"
  "landing page in Chromium (scripts/landing-check.sh)|bash scripts/landing-check.sh"
  "deploy checks (deploy/validate.sh)|bash deploy/validate.sh"
  "end to end, Prometheus and Alertmanager (deploy/e2e.sh)|bash deploy/e2e.sh"
  "end to end in large-fleet mode (E2E_LARGE_FLEET=1 deploy/e2e.sh)|env E2E_LARGE_FLEET=1 bash deploy/e2e.sh"
  "end to end against the demo (E2E_DEMO=1 deploy/e2e.sh)|env E2E_DEMO=1 bash deploy/e2e.sh"
)

now_ms() { echo $((${EPOCHREALTIME//[!0-9]/} / 1000)); }
seconds() { printf '%d.%d' $(($1 / 1000)) $(($1 % 1000 / 100)); } # seconds MS: "12.3"

times=() results=()
summary() {
  local i total=0 passed=0 failed=0 width=4
  for i in "${!STEPS[@]}"; do
    local name="${STEPS[$i]%%|*}"
    ((${#name} > width)) && width=${#name}
  done
  printf '\n=== summary\n%-*s %9s  %s\n' "$width" step seconds result
  for i in "${!STEPS[@]}"; do
    local name="${STEPS[$i]%%|*}"
    if ((i < ${#results[@]})); then
      printf '%-*s %9s  %s\n' "$width" "$name" "$(seconds "${times[$i]}")" "${results[$i]}"
      total=$((total + times[i]))
      [[ ${results[$i]} == ok ]] && passed=$((passed + 1)) || failed=$((failed + 1))
    else
      printf '%-*s %9s  %s\n' "$width" "$name" - "not run"
    fi
  done
  printf '%-*s %9s\n' "$width" total "$(seconds "$total")"
  echo "steps: $passed passed, $failed failed"
}

for entry in "${STEPS[@]}"; do
  name="${entry%%|*}"
  read -r -a cmd <<<"${entry#*|}"
  printf '\n=== %s\n' "$name"
  start=$(now_ms)
  rc=0
  "${cmd[@]}" || rc=$?
  elapsed=$(($(now_ms) - start))
  times+=("$elapsed")
  if ((rc == 0)); then
    results+=(ok)
    printf '=== %s: ok in %ss\n' "$name" "$(seconds "$elapsed")"
  else
    results+=(FAILED)
    printf '=== %s: FAILED (exit %d) after %ss\n' "$name" "$rc" "$(seconds "$elapsed")"
    summary
    exit "$rc"
  fi
done
summary
