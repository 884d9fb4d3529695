#!/usr/bin/env bash
# crash.sh [ROUNDS] - kill -9 the service at random moments under load, ROUNDS times (default
# $CW_CRASH_ROUNDS or 10), restarting it each time; the edge resends what was not acked. At the
# end every (device, stream, sequence) the devices published is stored exactly once.
. "$(dirname "$0")/lib.sh"
rounds=${1:-${CW_CRASH_ROUNDS:-10}}

svc_init
svc_start
"$CWCTL" user add ana --out "$WORK/ana.cred" >/dev/null
grant_all "$WORK/ana.cred"
devices=3
for d in $(seq 1 $devices); do
    "$CWCTL" device enroll ana --out "$WORK/d$d.cred" >/dev/null
done
# load: each device streams a simulated run (1 s IMU frames + 1 Hz series) as fast as it can
pids=()
for d in $(seq 1 $devices); do
    "$CWEDGE" --cred "$WORK/d$d.cred" --quiet --json --timeout 600 simulate run \
        --duration 240 --seed "$d" >"$WORK/d$d.json" 2>"$WORK/d$d.err" &
    pids+=($!)
done
for r in $(seq 1 "$rounds"); do
    sleep "0.$(( (RANDOM % 8) + 1 ))"
    svc_stop KILL
    svc_start
done
for i in "${!pids[@]}"; do
    wait "${pids[$i]}" || fail "device $((i+1)) exit $?: $(cat "$WORK/d$((i+1)).json" "$WORK/d$((i+1)).err")"
done
svc_stop TERM
sent=0
for d in $(seq 1 $devices); do
    n=$(python3 -c 'import json,sys; s=json.load(open(sys.argv[1])); assert s["acked"]==s["batches"], s; print(s["batches"])' "$WORK/d$d.json") \
        || fail "device $d summary"
    sent=$((sent + n))
done
stored=$(db "SELECT count(*) FROM frames")
distinct=$(db "SELECT count(*) FROM (SELECT DISTINCT device_id, stream, sequence FROM frames)")
seen=$(db "SELECT count(*) FROM seen")
gaps=$(db "SELECT count(*) FROM (SELECT device_id, stream, max(sequence) m, count(*) c FROM frames GROUP BY device_id, stream) WHERE m != c")
[ "$stored" = "$sent" ] || fail "stored $stored frames, devices sent $sent"
[ "$distinct" = "$stored" ] || fail "$((stored - distinct)) frames stored twice"
[ "$seen" = "$stored" ] || fail "seen $seen != stored $stored"
[ "$gaps" = 0 ] || fail "$gaps streams with missing sequences"
pass "$rounds kill -9 rounds under load: all $sent frames stored exactly once, no gaps"
echo "1 passed, 0 failed"
