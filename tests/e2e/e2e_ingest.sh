#!/usr/bin/env bash
# e2e_ingest.sh - the README's operator flow with the real binaries on 127.0.0.1:
# init, run, add a person, enroll a device, import every kind of recording and a simulated
# run, check every frame acknowledged and counted; refusals with exit codes; revocation;
# clean shutdown on SIGTERM.
. "$(dirname "$0")/lib.sh"

svc_init
svc_start
cwctl () { "$CWCTL" "$@"; }

# negative first: a person may not add people; unknown person; bad zone; no overwrite
cwctl user add ana --locale ja --tz Asia/Tokyo --out "$WORK/ana.cred" >/dev/null
[ "$(stat -c %a "$WORK/ana.cred")" = 600 ] || fail "person credential not 0600"
set +e
"$CWCTL" --cred "$WORK/ana.cred" user add eve --out "$WORK/eve.cred" 2>"$WORK/err"; rc=$?
set -e
[ $rc -eq 1 ] && grep -q CW_EDENIED "$WORK/err" || fail "a person could add a person (rc $rc)"
pass "a person may not add people"
set +e
cwctl device enroll nobody --out "$WORK/x.cred" 2>"$WORK/err"; rc=$?
set -e
[ $rc -eq 1 ] && grep -q CW_ENOENT "$WORK/err" || fail "enroll for unknown person (rc $rc)"
set +e
cwctl user add bob --tz Mars/Olympus --out "$WORK/bob.cred" 2>"$WORK/err"; rc=$?
set -e
[ $rc -eq 1 ] || fail "bad time zone accepted"
pass "unknown person and bad zone refused"

cwctl device enroll ana --label phone --out "$WORK/phone.cred" >/dev/null
grant_all "$WORK/ana.cred"
set +e
cwctl device enroll ana --out "$WORK/phone.cred" 2>"$WORK/err"; rc=$?
set -e
[ $rc -ne 0 ] || fail "a credential file was overwritten"
pass "credential files are never overwritten"

# real recordings and simulated data, all acknowledged
"$CWEDGE" --cred "$WORK/phone.cred" --json --quiet import "$DATA/activity-small-fenix2-run.fit" \
    "$DATA/user1_frontpocket_1506422223341.csv" "$DATA/food_demo_diary.csv" \
    "$DATA/imu_sample.csv" >"$WORK/import.json" || fail "import exit $?: $(cat "$WORK/import.json")"
python3 - "$WORK/import.json" <<'PY' || fail "import summary"
import json, sys
s = json.load(open(sys.argv[1]))
assert s["sent"] == s["acked"] == s["batches"] > 300, s
assert s["rejected"] == 0 and s["dropped"] == 0 and s["queued"] == 0, s
PY
pass "FIT run, phone accelerometer, foot IMU and food diary: every frame acknowledged"
"$CWEDGE" --cred "$WORK/phone.cred" --quiet simulate run --duration 30 --cadence 165 \
    || fail "simulate run exit $?"
"$CWEDGE" --cred "$WORK/phone.cred" --quiet simulate diet --days 3 || fail "simulate diet exit $?"
pass "simulated run and diet acknowledged"

# what the service counted equals what the device sent
acked=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["acked"])' "$WORK/import.json")
# counters reach the store every 250 ms: allow the service a moment
ok=0
for _ in $(seq 1 20); do
    cwctl --json stats >"$WORK/stats.json"
    if python3 - "$WORK/stats.json" "$acked" <<'PY'
import json, sys
s = json.load(open(sys.argv[1]))
c = {x["name"]: x["value"] for x in s["counters"]} if isinstance(s.get("counters"), list) else s["counters"]
assert int(c.get("frames_accepted", 0)) >= int(sys.argv[2]) + 30, c
PY
    then ok=1; break; fi
    sleep 0.2
done
[ $ok = 1 ] || fail "stats: $(cat "$WORK/stats.json")"
stored=$(db "SELECT count(*) FROM frames")
seen=$(db "SELECT count(*) FROM seen")
[ "$stored" = "$seen" ] || fail "frames $stored != seen $seen"
pass "stats and the database agree ($stored frames)"

# nothing readable at rest: a recognisable item name from the diary is not in the database
if grep -r -a -q "Sweet Potato Soup" "$SVC"/coachwire.db* ; then fail "plaintext found at rest"; fi
pass "readings are sealed at rest"

# revocation: the device's next import is refused before any payload
dev=$(sed -n 's/^id = //p' "$WORK/phone.cred")
cwctl device revoke "$dev" >/dev/null
cwctl device list | grep -q revoked || fail "revoked device not listed as revoked"
set +e
"$CWEDGE" --cred "$WORK/phone.cred" --quiet --timeout 2 simulate diet --days 1; rc=$?
set -e
[ $rc -eq 4 ] || [ $rc -eq 5 ] || fail "revoked device: exit $rc"
pass "revoked device refused (exit $rc)"

svc_stop TERM
grep -q "stopped cleanly" "$WORK/coachwired.log" || fail "no clean shutdown"
pass "SIGTERM: clean shutdown"

# a damaged database is detected at start and never served
printf 'garbage' | dd of="$SVC/coachwire.db" bs=1 seek=100 conv=notrunc 2>/dev/null
set +e
"$COACHWIRED" run "$SVC" 2>"$WORK/err"; rc=$?
set -e
[ $rc -ne 0 ] && grep -q "not served" "$WORK/err" || fail "damaged database served (rc $rc)"
pass "damaged database refused at start"
echo "1 passed, 0 failed"
