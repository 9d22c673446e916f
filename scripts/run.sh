#!/usr/bin/env bash
# Builds the broker in Release and runs it:
#
#   scripts/run.sh [broker arguments...]
#
# Installs the Debian packages first (scripts/install-deps.sh, quick when
# present), configures `build-release` (override with AMQ_RELEASE_DIR),
# builds the `actormq` target and execs build-release/actors/actormq "$@".
set -euo pipefail

repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$repo"
dir="${AMQ_RELEASE_DIR:-build-release}"

scripts/install-deps.sh
cmake -S . -B "$dir" -G Ninja -DCMAKE_BUILD_TYPE=Release -DAMQ_BUILD_TESTS=OFF -DAMQ_BUILD_BENCH=OFF >&2
cmake --build "$dir" --target actormq -j "${AMQ_JOBS:-2}" >&2
bin="$dir/actors/actormq"
[[ -x "$bin" ]] || { echo "run.sh: built target actormq, but $bin does not exist" >&2; exit 1; }
exec "$bin" "$@"
