#!/usr/bin/env bash
# e2e_coach.sh - coaching with the real binaries on 127.0.0.1: the operator adds a coach, a
# person accepts them and grants running.* for coaching and coach_review, the coach sets a
# plan; a simulated run whose cadence drifts low brings a nudge to the phone (cw-edge nudges)
# and to the person (cwctl nudges), each with its disclosure; the coach charts the cadence;
# the person withdraws running.cadence for coaching and a second drifting run brings no new
# cadence nudge. Negative first: a coach not accepted, the operator and another coach are
# refused; a broken plan file is refused with its line.
. "$(dirname "$0")/lib.sh"

svc_init
svc_start
cwctl () { "$CWCTL" "$@"; }
ana () { "$CWCTL" --cred "$WORK/ana.cred" "$@"; }
kai () { "$CWCTL" --cred "$WORK/kai.cred" "$@"; }
lee () { "$CWCTL" --cred "$WORK/lee.cred" "$@"; }
phone () { "$CWEDGE" --cred "$WORK/phone.cred" "$@"; }
refused () {    # refused CODE COMMAND...: exit 1 with that code
    local code=$1; shift
    set +e
    "$@" >"$WORK/out" 2>"$WORK/err"; local rc=$?
    set -e
    [ $rc -eq 1 ] && grep -q "$code" "$WORK/err" \
        || fail "not refused with $code (rc $rc): $* : $(cat "$WORK/err" "$WORK/out")"
}

cwctl user add ana --out "$WORK/ana.cred" >/dev/null
cwctl device enroll ana --label phone --out "$WORK/phone.cred" >/dev/null
cwctl coach add kai --out "$WORK/kai.cred" >/dev/null || fail "coach add"
cwctl coach add lee --out "$WORK/lee.cred" >/dev/null || fail "coach add lee"

# negative first
refused CW_EDENIED kai plan show ana
refused CW_EDENIED kai progress ana --goal cadence
refused CW_EDENIED kai nudges ana
refused CW_EDENIED cwctl plan show ana
refused CW_EDENIED cwctl nudges ana
refused CW_EDENIED ana coach add eve --out "$WORK/eve.cred"
pass "a coach not accepted, the operator and a person adding a coach are refused"

ana coach accept kai >/dev/null || fail "accept"
ana consent grant 'running.*' coaching >/dev/null
ana consent grant 'running.*' coach_review >/dev/null
ana consent grant 'running.*' retention >/dev/null
ana settings --quiet off --budget 20 >"$WORK/settings.txt" || fail "settings"
grep -q "no quiet hours" "$WORK/settings.txt" || fail "settings: $(cat "$WORK/settings.txt")"
kai clients | grep -q '^ana ' || fail "clients: $(kai clients)"
refused CW_EDENIED lee plan show ana
refused CW_EDENIED lee nudges ana
pass "ana accepts kai; another coach is still refused"

printf 'goal cadence range 165 180 spm\ngoal balance band 45 55 speed\n' >"$WORK/broken.plan"
refused "line 2" kai plan set ana "$WORK/broken.plan"
printf '# spring block\ngoal cadence range 166 180 spm\ngoal vertical_oscillation max 100 mm\n' \
    >"$WORK/spring.plan"
kai plan set ana "$WORK/spring.plan" >"$WORK/set.txt" || fail "plan set: $(cat "$WORK/set.txt")"
grep -q "is active" "$WORK/set.txt" || fail "plan set: $(cat "$WORK/set.txt")"
kai plan show ana | grep -q "goal cadence range 166 180 spm" || fail "plan show"
pass "a broken plan is refused with its line; the plan is set and shown"

phone --quiet simulate run --duration 300 --cadence 172 --cadence-end 150 \
    || fail "simulate run exit $?"
sleep 2
phone nudges --wait 3 >"$WORK/phone.txt" || fail "cw-edge nudges: $(cat "$WORK/phone.txt")"
grep -q "rule cadence_low" "$WORK/phone.txt" || fail "no cadence nudge: $(cat "$WORK/phone.txt")"
grep -q "running.cadence  purpose coaching  grant " "$WORK/phone.txt" \
    || fail "no disclosure: $(cat "$WORK/phone.txt")"
grep -q "receipt sent" "$WORK/phone.txt" || fail "not acked: $(cat "$WORK/phone.txt")"
pass "the phone has the nudge with its disclosure and acknowledged it"

ana nudges >"$WORK/ana.txt" || fail "cwctl nudges"
grep -q "rule cadence_low" "$WORK/ana.txt" || fail "person's nudges: $(cat "$WORK/ana.txt")"
grep -q "running.cadence  purpose coaching  grant " "$WORK/ana.txt" || fail "no disclosure"
grep -q "cadence_low  acked" "$WORK/ana.txt" || fail "not acked: $(cat "$WORK/ana.txt")"
cwctl --json stats | python3 -c 'import json,sys; c=json.load(sys.stdin)["counters"]; assert c.get("nudge_acks",0)>=1, c' \
    || fail "gateway counted no ack"
pass "cwctl nudges lists it with the same disclosure, acked"

id=$(sed -n 's/^nudge \([0-9a-f]\{32\}\)  rule cadence_low.*/\1/p' "$WORK/phone.txt" | head -1)
phone --quiet feedback "$id" helpful || fail "feedback"
sleep 0.5
kai coach effectiveness ana >"$WORK/eff.txt" || fail "effectiveness"
grep -E -q "^cadence_low +[1-9][0-9]* +[1-9][0-9]* +[0-9]+ +[0-9]+ +1 " "$WORK/eff.txt" \
    || fail "effectiveness: $(cat "$WORK/eff.txt")"
pass "feedback helpful counted per rule"

kai progress ana --goal cadence >"$WORK/progress.txt" || fail "progress"
grep -q "cadence (running cadence" "$WORK/progress.txt" || fail "progress: $(cat "$WORK/progress.txt")"
grep -E -q '\|#+.*\[' "$WORK/progress.txt" || fail "no chart: $(cat "$WORK/progress.txt")"
grep -q "MISSED" "$WORK/progress.txt" || fail "no missed window: $(cat "$WORK/progress.txt")"
ana consent access-log | grep -q "coach_view" || fail "coach views not in the access log"
pass "the coach charts cadence against its band; views are in ana's access log"

ana consent revoke running.cadence coaching >/dev/null
before=$(ana --json nudges --all | python3 -c 'import json,sys; print(sum(1 for n in json.load(sys.stdin)["nudges"] if n["nudge"]["rule"].startswith("cadence")))')
phone --quiet simulate run --duration 300 --cadence 172 --cadence-end 150 --seed 7 \
    || fail "second run exit $?"
sleep 2
after=$(ana --json nudges --all | python3 -c 'import json,sys; print(sum(1 for n in json.load(sys.stdin)["nudges"] if n["nudge"]["rule"].startswith("cadence")))')
[ "$before" = "$after" ] || fail "a cadence nudge after the withdrawal ($before -> $after)"
ana nudges --held | grep -q "consent (field running.cadence not granted" \
    || fail "no consent hold: $(ana nudges --held | tail -5)"
pass "after withdrawing running.cadence no new cadence nudge; held for consent"
