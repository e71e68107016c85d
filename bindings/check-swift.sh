#!/usr/bin/env bash
# Checks the generated Swift binding is what an Xcode project needs, since no Swift toolchain
# runs on this machine kind: the three files of the documented layout (docs/mobile-packaging.md),
# a module map that names the module `mobile_coreFFI` over `mobile_coreFFI.h`, a Swift file that
# imports that module, and every C function the Swift file calls declared in the header and
# exported by both the shared library and the static library (what an iOS app links).
# usage: bindings/check-swift.sh   (after bindings/generate.sh swift)
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
TARGET_DIR=$(cd "$ROOT" && cargo metadata --format-version 1 --no-deps --offline 2>/dev/null \
  | python3 -c 'import json, sys; print(json.load(sys.stdin)["target_directory"])' 2>/dev/null \
  || echo "$ROOT/target")
DIR="$TARGET_DIR/bindings/swift"
nm -D --defined-only "$TARGET_DIR/debug/libmobile_core.so" | awk '{print $3}' >"$DIR/.so-symbols"
nm --defined-only "$TARGET_DIR/debug/libmobile_core.a" 2>/dev/null | awk '$2 == "T" {print $3}' >"$DIR/.a-symbols"
python3 - "$DIR" <<'PY'
import re, sys
from pathlib import Path

d = Path(sys.argv[1])
problems = []
for name in ("mobile_core.swift", "mobile_coreFFI.h", "mobile_coreFFI.modulemap"):
    if not (d / name).is_file():
        problems.append(f"missing {name}")
if problems:
    sys.exit("swift layout: " + "; ".join(problems))
modulemap = (d / "mobile_coreFFI.modulemap").read_text()
if not re.search(r'module\s+mobile_coreFFI\s*\{', modulemap) or 'header "mobile_coreFFI.h"' not in modulemap:
    problems.append("the module map does not declare module mobile_coreFFI over mobile_coreFFI.h")
swift = (d / "mobile_core.swift").read_text()
if "import mobile_coreFFI" not in swift:
    problems.append("the Swift file does not import mobile_coreFFI")
fn = re.compile(r"\b((?:uniffi|ffi)_mobile_core_\w+)\s*\(")
called = set(fn.findall(swift))
declared = set(fn.findall((d / "mobile_coreFFI.h").read_text()))
shared = set((d / ".so-symbols").read_text().split())
static = set((d / ".a-symbols").read_text().split())
if not called:
    problems.append("the Swift file calls no FFI function (generator output changed?)")
for what, missing in (("declared in the header", called - declared),
                      ("exported by libmobile_core.so", called - shared),
                      ("defined in libmobile_core.a", called - static)):
    if missing:
        problems.append(f"{len(missing)} function(s) the Swift file calls are not {what}: {sorted(missing)[:5]}")
if problems:
    sys.exit("swift layout: " + "; ".join(problems))
print(f"swift layout: ok ({len(called)} FFI functions called, all declared and exported)")
PY
rm -f "$DIR/.so-symbols" "$DIR/.a-symbols"
