#!/usr/bin/env bash
# Builds mobile-core (debug profile) and generates its bindings from the built library with the
# workspace's own uniffi-bindgen (same uniffi version). Output goes to target/bindings/<language>/
# and is never committed; the Python folder also gets a copy of the library, which the generated
# module loads from its own folder. Safe to run again: each language folder is regenerated whole.
#
# usage: bindings/generate.sh [--test-support] [--out DIR] [kotlin] [swift] [python]
#   --test-support  build with the `test-support` feature (exports TestServerSigner); for tests
#   --out DIR       write to DIR/<language>/ instead of target/bindings/<language>/
#   languages       default: kotlin swift python (Kotlin and Swift need no toolchain to generate)
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"

usage() { sed -n '2,10p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'; }

features=()
out=""
langs=()
while [ $# -gt 0 ]; do
  case "$1" in
    --test-support) features=(--features test-support) ;;
    --out) [ $# -ge 2 ] || { usage >&2; exit 2; }; out=$2; shift ;;
    kotlin | swift | python) langs+=("$1") ;;
    -h | --help) usage; exit 0 ;;
    *) echo "generate.sh: unknown argument: $1" >&2; usage >&2; exit 2 ;;
  esac
  shift
done
[ ${#langs[@]} -gt 0 ] || langs=(kotlin swift python)

TARGET_DIR=$(cargo metadata --format-version 1 --no-deps --offline 2>/dev/null \
  | python3 -c 'import json, sys; print(json.load(sys.stdin)["target_directory"])' 2>/dev/null \
  || echo "$ROOT/target")
out=${out:-$TARGET_DIR/bindings}
case "$out" in /*) ;; *) out="$PWD/$out" ;; esac

if [ -n "${TEST_WORKSPACE_BUILD:-}" ]; then
  # In the test command: reuse the build `cargo test --workspace` made (features unified over the
  # whole workspace, so the library has `test-support`). A `-p` build here would unify other
  # features and rebuild most dependencies a second time.
  cargo build --quiet --locked --workspace --all-targets
else
  # Two cargo invocations on purpose: built together, uniffi's `cli` feature (the bindgen's)
  # would be unified into the library too and bloat it.
  cargo build --quiet -p bindings --bin uniffi-bindgen
  cargo build --quiet -p mobile-core "${features[@]}"
fi

case "$(uname -s)" in
  Darwin) LIB="$TARGET_DIR/debug/libmobile_core.dylib" ;;
  *) LIB="$TARGET_DIR/debug/libmobile_core.so" ;;
esac
BINDGEN="$TARGET_DIR/debug/uniffi-bindgen"

for lang in "${langs[@]}"; do
  dir="$out/$lang"
  rm -rf "$dir"
  mkdir -p "$dir"
  # --no-format: no ktlint / swiftformat needed on this machine.
  "$BINDGEN" generate "$LIB" --language "$lang" --out-dir "$dir" --no-format >/dev/null
  if [ "$lang" = python ]; then
    # Same step as generating: the generated module does not check that the library matches.
    cp "$LIB" "$dir/"
  fi
  echo "generated $lang bindings in $dir"
done
