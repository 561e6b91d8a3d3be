#!/usr/bin/env bash
# Mutation testing of the pure core with cargo-mutants (.cargo/mutants.toml says which files).
#   scripts/mutants.sh          only the mutants in lines this branch changed since it left main
#                               (cargo mutants --in-diff): proves a change's new logic is tested
#   scripts/mutants.sh --all    every mutant of the pure modules (slow: see the README)
# Further arguments go to cargo mutants (e.g. --shard 0/2, -f src/diagnose/mod.rs).
# The report is in mutants.out/ (missed.txt lists the mutants no test caught).
set -euo pipefail
cd "$(dirname "$0")/.."

MUTANTS_VERSION=27.1.0
if ! command -v cargo-mutants >/dev/null || [[ $(cargo mutants --version) != *"$MUTANTS_VERSION"* ]]; then
  echo "installing cargo-mutants $MUTANTS_VERSION (a few minutes, once)"
  cargo install --locked "cargo-mutants@$MUTANTS_VERSION"
fi

if [[ ${1:-} == --all ]]; then
  shift
  exec cargo mutants --no-shuffle "$@"
fi

base=$(git merge-base HEAD origin/main 2>/dev/null || git merge-base HEAD main 2>/dev/null || true)
[[ -n $base ]] || { echo "mutants: no merge base with main; use --all" >&2; exit 2; }
mkdir -p target
diff=target/mutants.diff
git diff "$base" -- src >"$diff"
if [[ ! -s $diff ]]; then
  echo "mutants: no change under src/ since $(git rev-parse --short "$base"); nothing to mutate"
  exit 0
fi
exec cargo mutants --no-shuffle --in-diff "$diff" "$@"
