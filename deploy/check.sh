#!/usr/bin/env bash
# check.sh - build Coachwire and run every test: warnings as errors, the whole suite, the
# sanitizer build's suite, then each fuzz target for a short budget.
#
#   deploy/check.sh                 everything (what CI runs)
#   deploy/check.sh --quick         plain build and tests only
#   deploy/check.sh --fuzz-long S   only the fuzz targets, S seconds each (default 600)
#   deploy/check.sh --fuzz-time S   fuzz budget per target in the full run (default 20)
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
cd "$top"
. deploy/deps.sh

quick=0 fuzz_only=0 fuzz_time=20
while [ $# -gt 0 ]; do
    case "$1" in
        --quick) quick=1 ;;
        --fuzz-long) fuzz_only=1; fuzz_time=${2:-600}; [ $# -gt 1 ] && shift ;;
        --fuzz-time) fuzz_time=$2; shift ;;
        -h|--help) sed -n '2,9p' "$0"; exit 0 ;;
        *) echo "check.sh: unknown option $1" >&2; exit 2 ;;
    esac
    shift
done

cw_install_deps
jobs=$(nproc 2>/dev/null || echo 2)
step () { printf '\n=== %s ===\n' "$*"; }

build_and_test () {   # dir, cmake options...
    local dir=$1; shift
    cmake -S . -B "$dir" -DCMAKE_BUILD_TYPE=RelWithDebInfo -DCW_WERROR=ON "$@" >/dev/null
    cmake --build "$dir" -j"$jobs"
    (cd "$dir" && ctest --output-on-failure -j1)
}

run_fuzzers () {
    step "fuzz targets (clang, libFuzzer + ASan + UBSan), ${fuzz_time}s each"
    CC=clang cmake -S . -B build/fuzz -DCW_FUZZ=ON -DCW_TESTS=ON -DCW_WERROR=ON >/dev/null
    cmake --build build/fuzz -j"$jobs" --target cw_fuzz_all
    local failed=0
    for target in build/fuzz/tests/fuzz_*; do
        [ -x "$target" ] || continue
        local name=${target##*/fuzz_}
        local corpus=tests/fuzz/corpus/$name
        local work=build/fuzz/corpus-$name
        mkdir -p "$work" build/fuzz/crashes
        echo "--- $name"
        if ! "$target" -max_total_time="$fuzz_time" -timeout=10 -rss_limit_mb=2048 \
                -artifact_prefix=build/fuzz/crashes/"$name"- -print_final_stats=1 \
                "$work" "$corpus" 2>build/fuzz/"$name".log; then
            echo "FAILED: $name (see build/fuzz/$name.log and build/fuzz/crashes/)" >&2
            tail -30 build/fuzz/"$name".log >&2
            failed=1
        else
            grep -E "stat::number_of_executed_units|Done" build/fuzz/"$name".log | tail -2
        fi
    done
    return $failed
}

if [ $fuzz_only -eq 1 ]; then
    run_fuzzers
    exit $?
fi

step "build with warnings as errors, and the whole test suite"
build_and_test build/check
if [ $quick -eq 0 ]; then
    step "AddressSanitizer + UndefinedBehaviorSanitizer build and its test suite"
    ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1 \
        build_and_test build/asan -DCW_SANITIZE=ON -DCMAKE_BUILD_TYPE=Debug
    run_fuzzers
fi
step "all checks passed"
