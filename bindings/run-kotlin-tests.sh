#!/usr/bin/env bash
# Runs the Kotlin tests of mobile-core on the host JVM, as uniffi's own suite runs its Kotlin
# fixtures: builds the library (debug, feature `test-support`), generates the Kotlin binding,
# compiles it with the tests in one kotlinc call (against JNA and kotlinx-coroutines), starts a
# real sso-server and runs bindings/tests/kotlin against it with the host libmobile_core.so.
#
# The Kotlin compiler comes from the npm registry (package `kotlin-compiler`, JetBrains' own
# distribution; Maven Central is not reachable here) into a cache folder, once; JNA from Debian
# (`libjna-java`, installed by scripts/install-deps.sh); Java 17 is on the machine.
# See ../shared/notes/kotlin.md. Idempotent; works from any folder.
#
# usage: bindings/run-kotlin-tests.sh [TEST_NAME_PART...]
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)

KOTLIN_VERSION=2.4.20
CACHE=${SSO_TOOLS_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/sso-test-tools}
KOTLIN_HOME="$CACHE/kotlin-compiler-$KOTLIN_VERSION"
if [ ! -x "$KOTLIN_HOME/bin/kotlinc-jvm" ]; then
  command -v npm >/dev/null || { echo "run-kotlin-tests.sh: npm is needed to fetch the Kotlin compiler" >&2; exit 1; }
  echo "fetching kotlin-compiler $KOTLIN_VERSION from the npm registry into $KOTLIN_HOME"
  tmp=$(mktemp -d)
  (cd "$tmp" && npm pack --silent "kotlin-compiler@$KOTLIN_VERSION" >/dev/null)
  mkdir -p "$KOTLIN_HOME.part"
  tar xzf "$tmp/kotlin-compiler-$KOTLIN_VERSION.tgz" -C "$KOTLIN_HOME.part" --strip-components=1
  chmod +x "$KOTLIN_HOME.part"/bin/*
  rm -rf "$tmp" "$KOTLIN_HOME"
  mv "$KOTLIN_HOME.part" "$KOTLIN_HOME"
fi
JNA=/usr/share/java/jna.jar
[ -f "$JNA" ] || { echo "run-kotlin-tests.sh: $JNA is missing (apt-get install libjna-java)" >&2; exit 1; }
command -v java >/dev/null || { echo "run-kotlin-tests.sh: java is missing (apt-get install openjdk-17-jre-headless)" >&2; exit 1; }
LIB="$KOTLIN_HOME/lib"

TARGET_DIR=$(cd "$ROOT" && cargo metadata --format-version 1 --no-deps --offline 2>/dev/null \
  | python3 -c 'import json, sys; print(json.load(sys.stdin)["target_directory"])' 2>/dev/null \
  || echo "$ROOT/target")
OUT="$TARGET_DIR/bindings/test"
bash "$ROOT/bindings/generate.sh" --test-support --out "$OUT" kotlin

# One compiler start for the binding and every test (each start costs 15-30 s of CPU).
CP="$JNA:$LIB/kotlinx-coroutines-core-jvm.jar:$LIB/kotlin-test.jar"
"$KOTLIN_HOME/bin/kotlinc-jvm" -nowarn -cp "$CP" \
  "$OUT/kotlin/uniffi/mobile_core/mobile_core.kt" "$ROOT"/bindings/tests/kotlin/*.kt \
  -d "$OUT/kotlin-tests.jar"

source "$ROOT/bindings/live-server.sh"
java -Djna.library.path="$TARGET_DIR/debug" \
  -cp "$OUT/kotlin-tests.jar:$CP:$LIB/kotlin-stdlib.jar" LiveServerTestKt "$@"
