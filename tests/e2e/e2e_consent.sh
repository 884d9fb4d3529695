#!/usr/bin/env bash
# e2e_consent.sh - the README's consent flow with the real binaries on 127.0.0.1: a person
# grants running.* and heart_rate.* for coaching, shows their consent, imports a run,
# verifies their receipts (online and offline, and a tampered copy fails), withdraws, lists
# the access log, exports everything as JSON lines, erases everything; receipts still verify.
. "$(dirname "$0")/lib.sh"

svc_init
svc_start
cwctl () { "$CWCTL" "$@"; }
ana () { "$CWCTL" --cred "$WORK/ana.cred" "$@"; }

cwctl user add ana --out "$WORK/ana.cred" >/dev/null
cwctl device enroll ana --label watch --out "$WORK/watch.cred" >/dev/null

# negative first: the operator may not change or read a person's consent or data
set +e
cwctl consent grant 'running.*' coaching 2>"$WORK/err"; rc=$?
set -e
[ $rc -eq 1 ] && grep -q CW_EDENIED "$WORK/err" && grep -q "only the person" "$WORK/err" \
    || fail "the operator could grant consent (rc $rc): $(cat "$WORK/err")"
set +e
cwctl data export --user ana >/dev/null 2>"$WORK/err"; rc=$?
set -e
[ $rc -eq 1 ] && grep -q CW_EDENIED "$WORK/err" || fail "the operator could export (rc $rc)"
set +e
ana consent grant heart_rate.nope coaching 2>"$WORK/err"; rc=$?
set -e
[ $rc -eq 1 ] && grep -q CW_EINVAL "$WORK/err" || fail "unknown field accepted (rc $rc)"
set +e
ana data erase 2>"$WORK/err"; rc=$?
set -e
[ $rc -eq 2 ] && grep -q -- "--yes" "$WORK/err" || fail "erase ran without --yes (rc $rc)"
pass "operator refused, unknown field refused, erase needs --yes"

# grant, show
ana consent grant 'running.*' coaching >"$WORK/grant.txt" || fail "grant running.*"
grep -q "receipt 0" "$WORK/grant.txt" || fail "no receipt: $(cat "$WORK/grant.txt")"
# raw readings outlive processing only under retention: keep the run's, for the export
ana consent grant 'running.*' retention >/dev/null || fail "grant running.* retention"
ana --json consent grant 'heart_rate.*' coaching >"$WORK/grant.json" || fail "grant heart_rate.*"
python3 - "$WORK/grant.json" <<'PY' || fail "grant json: $(cat "$WORK/grant.json")"
import json, sys
g = json.load(open(sys.argv[1]))
assert g["ok"] and g["recorded"] and g["position"] == 2 and g["changed"] >= 3, g
r = json.loads(g["receipt"])
assert r["position"] == 2 and "granted" in r["body"], r
PY
ana consent show >"$WORK/show.txt" || fail "consent show"
grep -E -q "^running.cadence +coaching +granted" "$WORK/show.txt" || fail "show: $(cat "$WORK/show.txt")"
grep -E -q "^location.position +coaching +-" "$WORK/show.txt" || fail "location shown granted"
ana consent show --policy >"$WORK/policy.txt" || fail "show --policy"
grep -q "policy version 1" "$WORK/policy.txt" || fail "policy: $(head -5 "$WORK/policy.txt")"
pass "grants with receipts; consent show"

# an import: only granted fields are stored
"$CWEDGE" --cred "$WORK/watch.cred" --json --quiet import "$DATA/activity-small-fenix2-run.fit" \
    >"$WORK/import.json" || fail "import exit $?: $(cat "$WORK/import.json")"
python3 - "$WORK/import.json" <<'PY' || fail "import summary: $(cat "$WORK/import.json")"
import json, sys
s = json.load(open(sys.argv[1]))
assert s["sent"] == s["acked"] and s["acked"] > 0 and s["rejected"] == 0, s
PY
pass "run imported"

# receipts verify, online and offline; a tampered copy is caught with its position
ana consent receipts --verify >"$WORK/verify.txt" || fail "verify: $(cat "$WORK/verify.txt")"
grep -q "verified 3 receipts" "$WORK/verify.txt" || fail "verify: $(cat "$WORK/verify.txt")"
ana consent receipts --out "$WORK/receipts.jsonl" 2>"$WORK/receipts.err" || fail "receipts --out"
key=$(sed -n 's/.*public key \([0-9a-f]\{64\}\).*/\1/p' "$WORK/receipts.err")
[ ${#key} = 64 ] || fail "no public key: $(cat "$WORK/receipts.err")"
"$CWCTL" consent receipts --verify "$WORK/receipts.jsonl" --key "$key" >"$WORK/off.txt" \
    || fail "offline verify"
grep -q "verified 3" "$WORK/off.txt" || fail "offline verify: $(cat "$WORK/off.txt")"
sed '2s/granted/Granted/' "$WORK/receipts.jsonl" >"$WORK/tampered.jsonl"
set +e
"$CWCTL" consent receipts --verify "$WORK/tampered.jsonl" --key "$key" 2>"$WORK/err"; rc=$?
set -e
[ $rc -eq 1 ] && grep -q "position 1" "$WORK/err" || fail "tampered receipts passed (rc $rc)"
pass "receipts verify online and offline; an edit is caught at its position"

# withdraw; access log; export
ana consent revoke 'heart_rate.*' any >"$WORK/revoke.txt" || fail "revoke"
grep -q "withdrew" "$WORK/revoke.txt" || fail "revoke: $(cat "$WORK/revoke.txt")"
ana consent access-log >"$WORK/log0.txt" || fail "access-log"
ana data export --out "$WORK/export.jsonl" >/dev/null || fail "export"
[ "$(stat -c %a "$WORK/export.jsonl")" = 600 ] || fail "export not 0600"
python3 - "$WORK/export.jsonl" <<'PY' || fail "export content"
import json, sys
types = {}
fields = set()
for line in open(sys.argv[1]):
    o = json.loads(line)
    types[o["type"]] = types.get(o["type"], 0) + 1
    if o["type"] == "reading":
        fields.update(o.get("data", {}).keys())
assert types.get("export") == 1 and types.get("reading", 0) > 0, types
assert types.get("consent_receipt") == 5 and types.get("access") == 1, types
assert any(f.startswith("running.") for f in fields), fields
assert not any(f.startswith("location.") for f in fields), fields
PY
ana consent access-log --since 1 >"$WORK/log.txt" || fail "access-log --since"
grep -q "export" "$WORK/log.txt" || fail "the export is not in the access log: $(cat "$WORK/log.txt")"
pass "withdrawal, access log, export as JSON lines with readings"

# erase everything: key first, rows gone, device revoked, receipts still verify
ana data erase --yes >"$WORK/erase.txt" || fail "erase"
grep -q "data key destroyed" "$WORK/erase.txt" || fail "erase: $(cat "$WORK/erase.txt")"
uid=$(sed -n 's/^id = //p' "$WORK/ana.cred")
[ "$(db "SELECT count(*) FROM frames WHERE hex(user_id) = upper('$uid')")" = 0 ] || fail "frames left"
[ "$(db "SELECT count(*) FROM person_keys WHERE hex(user_id) = upper('$uid')")" = 0 ] || fail "key left"
ana consent receipts --verify >"$WORK/verify2.txt" || fail "receipts after erase"
grep -q "verified 7 receipts" "$WORK/verify2.txt" || fail "after erase: $(cat "$WORK/verify2.txt")"
ana data export >"$WORK/export2.jsonl" || fail "export after erase"
python3 -c '
import json, sys
t = [json.loads(l)["type"] for l in sys.stdin]
assert "reading" not in t, t' <"$WORK/export2.jsonl" || fail "readings exported after erase"
set +e
"$CWEDGE" --cred "$WORK/watch.cred" --json --quiet import "$DATA/activity-small-fenix2-run.fit" \
    >/dev/null 2>&1; rc=$?
set -e
[ $rc -ne 0 ] || fail "the erased person's device could still send"
pass "erasure: key shredded, rows gone, device revoked, receipts still verify"

svc_stop
pass "done"
