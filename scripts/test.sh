#!/usr/bin/env bash
# THE test command: everything a fresh machine needs, then every test.
#
#   scripts/test.sh
#
# 1. installs the Debian packages (scripts/install-deps.sh; quick if present)
# 2. fetches the Kafka broker jars (scripts/fetch-kafka.sh; cached in .deps/)
# 3. configures and builds `build` (Ninja, -DAMQ_WERROR=ON, -j2) and the
#    libFuzzer targets in `build-fuzz` (clang++-14, ASan+UBSan)
# 4. starts real Redis + Kafka (scripts/services.sh), runs ctest in `build`
#    with AMQ_TEST_REDIS_PORT / AMQ_TEST_KAFKA_BOOTSTRAP exported, stops them
#    (always: trap on EXIT/INT/TERM)
# 5. runs the fuzz targets as ctest tests in `build-fuzz` and prints the
#    executions each reached
# Exits non-zero if any build step or test failed.
#
# Knobs (environment):
#   AMQ_SKIP_FUZZ=1          skip building and running the fuzz targets
#   AMQ_FUZZ_RUNS=N          executions per fuzz target, all targets (defaults: tests/fuzz/CMakeLists.txt)
#   AMQ_CTEST_ARGS="..."     extra ctest arguments for `build` (e.g. "-L integration")
#   AMQ_JOBS=N               build/test parallelism (default 2)
set -euo pipefail

repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$repo"
jobs="${AMQ_JOBS:-2}"
t_start=$SECONDS
status=0
summary=()

step() { echo; echo "==== test.sh: $* ($((SECONDS - t_start)) s)"; }
note() { summary+=("$*"); echo "test.sh: $*"; }

services_started=0
cleanup() {
  if ((services_started)); then
    scripts/services.sh stop || true
    services_started=0
  fi
}
trap cleanup EXIT
trap 'echo "test.sh: interrupted" >&2; exit 130' INT
trap 'echo "test.sh: terminated" >&2; exit 143' TERM

# Totals over both ctest runs, from ctest's own "x% tests passed, y tests
# failed out of z" line.
passed=0
failed=0
count_ctest() { # <log>
  local line total nfail
  line="$(grep -E '[0-9]+% tests passed, [0-9]+ tests? failed out of [0-9]+' "$1" | tail -1 || true)"
  [[ -n "$line" ]] || return 0
  nfail="$(sed -E 's/.* ([0-9]+) tests? failed out of ([0-9]+).*/\1/' <<<"$line")"
  total="$(sed -E 's/.* failed out of ([0-9]+).*/\1/' <<<"$line")"
  passed=$((passed + total - nfail))
  failed=$((failed + nfail))
}

step "install dependencies"
scripts/install-deps.sh

step "fetch Kafka"
scripts/fetch-kafka.sh >/dev/null

step "configure + build (build)"
cmake -S . -B build -G Ninja -DAMQ_WERROR=ON
if ! cmake --build build -j "$jobs" -- -k 0; then
  note "BUILD FAILED in build (ctest still runs what did build)"
  status=1
fi

fuzz_built=0
if [[ "${AMQ_SKIP_FUZZ:-0}" != 1 ]]; then
  step "configure + build fuzz targets (build-fuzz, clang++-14)"
  fuzz_cfg=(-DCMAKE_CXX_COMPILER=clang++-14 -DAMQ_BUILD_FUZZ=ON -DAMQ_BUILD_TESTS=OFF -DAMQ_BUILD_BENCH=OFF
            -DCMAKE_BUILD_TYPE=RelWithDebInfo "-DCMAKE_CXX_FLAGS_RELWITHDEBINFO=-O2 -g")
  if [[ -n "${AMQ_FUZZ_RUNS:-}" ]]; then
    fuzz_cfg+=("-DAMQ_FUZZ_RUNS=$AMQ_FUZZ_RUNS" "-DAMQ_FUZZ_FRAMER_RUNS=$AMQ_FUZZ_RUNS")
  else # back to the defaults of tests/fuzz/CMakeLists.txt, whatever an earlier run set
    fuzz_cfg+=(-UAMQ_FUZZ_RUNS -UAMQ_FUZZ_FRAMER_RUNS -UAMQ_FUZZ_MAX_TIME -UAMQ_FUZZ_FRAMER_MAX_TIME)
  fi
  if cmake -S . -B build-fuzz -G Ninja "${fuzz_cfg[@]}" \
     && cmake --build build-fuzz --target amq_fuzz_all -j "$jobs" -- -k 0; then
    fuzz_built=1
  else
    note "BUILD FAILED in build-fuzz (fuzz targets not run)"
    status=1
  fi
fi

step "start services"
services_started=1
scripts/services.sh start
set -a
# shellcheck disable=SC1091
. build/services/env
set +a

step "ctest (build)"
ctest_log="build/ctest-output.log"
# shellcheck disable=SC2086
if ! ctest --test-dir build --output-on-failure -j "$jobs" --timeout 900 ${AMQ_CTEST_ARGS:-} 2>&1 | tee "$ctest_log"; then
  status=1
fi
count_ctest "$ctest_log"
if grep -q 'No tests were found' "$ctest_log"; then
  note "ctest in build found no tests"
  status=1
fi

cleanup # Redis and Kafka are not needed by the fuzzers: give them the CPU.

if ((fuzz_built)); then
  step "fuzz (build-fuzz)"
  fuzz_log="build-fuzz/ctest-output.log"
  if ! ctest --test-dir build-fuzz --output-on-failure -j "$jobs" -L fuzz 2>&1 | tee "$fuzz_log"; then
    status=1
  fi
  count_ctest "$fuzz_log"
  # libFuzzer's closing line per target: "Done <N> runs in <S> second(s)".
  python3 - build-fuzz/Testing/Temporary/LastTest.log <<'PY' || true
import re, sys
text = open(sys.argv[1], errors="replace").read()
for block in re.split(r"\n(?=\d+/\d+ Testing: )", text):
    m = re.match(r"\d+/\d+ Testing: (\S+)", block)
    if not m:
        continue
    done = re.findall(r"Done (\d+) runs in (\d+) second", block)
    if done:
        runs, secs = map(int, done[-1])
        rate = runs // max(secs, 1)
        print(f"test.sh: {m.group(1):<18} {runs:>10} executions in {secs:>4} s  (~{rate} exec/s)")
    else:
        print(f"test.sh: {m.group(1):<18} no 'Done N runs' line (crashed or did not start)")
PY
fi

step "done in $((SECONDS - t_start)) s"
for s in "${summary[@]}"; do echo "test.sh: $s"; done
echo "test.sh: exit status $status"
echo "actormq: $passed passed, $failed failed"
exit "$status"
