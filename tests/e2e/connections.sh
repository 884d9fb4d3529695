#!/usr/bin/env bash
# connections.sh [--devices N] [--rate R] [--seconds S] - many devices on one service.
#
# One cw-bench process opens N CURVE DEALER connections to one coachwired (N devices enrolled
# straight into its store in one transaction), each sending one frame (1 s of heart rate) every
# 1/R s, and reports the service's CPU, its memory per connection (RSS delta / N), ack latency
# p50/p99 and how long the whole run took. Raises ulimit -n to 65536 (as root) when N needs it.
#   CI (ctest): 500 devices, 10 s.    For people: --devices 20000 (about 2-3 minutes).
set -euo pipefail
: "${BIN:?BIN must name the build directory}"
devices=500 rate=1 seconds=10
while [ $# -gt 0 ]; do
    case "$1" in
        --devices) devices=$2; shift ;;
        --rate) rate=$2; shift ;;
        --seconds) seconds=$2; shift ;;
        -h|--help) sed -n '2,8p' "$0"; exit 0 ;;
        *) echo "connections.sh: unknown option $1" >&2; exit 2 ;;
    esac
    shift
done
need=$((devices * 2 + 1024))
if [ "$(ulimit -n)" -lt "$need" ]; then
    ulimit -n 65536 2>/dev/null || ulimit -n "$(ulimit -Hn)" || true
    [ "$(ulimit -n)" -ge "$need" ] || echo "connections: warning: ulimit -n $(ulimit -n) < $need" >&2
fi
echo "connections: $devices devices, $rate frame/s each, $seconds s (ulimit -n $(ulimit -n))"
t0=$(date +%s)
timeout -k 10 $((seconds + 900)) "$BIN/tests/cw-bench" connections --devices "$devices" \
    --rate "$rate" --seconds "$seconds" && rc=0 || rc=$?
echo "connections: the whole run took $(( $(date +%s) - t0 )) s"
exit $rc
