#!/usr/bin/env bash
# demo.sh - Coachwire end to end on one machine, on 127.0.0.1, in a temporary directory:
#   two people enrolled (one reads Japanese, one English), each choosing what to share;
#   a real Garmin FIT run and a real food diary imported from a phone;
#   a simulated run whose cadence drifts low -> nudges on the phones, each with its disclosure;
#   their coach's view, limited to what they shared with the coach;
#   a withdrawal, and the nudges that stop; the signed receipts verified offline.
#
#   deploy/demo.sh            run it
#   deploy/demo.sh --keep     keep the service directory afterwards (it prints where)
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
cd "$top"
. deploy/deps.sh
keep=0
case "${1:-}" in
    --keep) keep=1 ;;
    -h|--help) sed -n '2,10p' "$0"; exit 0 ;;
    "") ;;
    *) echo "demo.sh: unknown option $1" >&2; exit 2 ;;
esac

cw_install_deps
say () { printf '\n\033[1m== %s\033[0m\n' "$*"; }
say "building (build/demo)"
cmake -S . -B build/demo -DCMAKE_BUILD_TYPE=Release -DCW_TESTS=OFF >/dev/null
cmake --build build/demo -j"$(nproc)" --target coachwired cwctl cw-edge >/dev/null
B=$top/build/demo
work=$(mktemp -d /tmp/coachwire-demo.XXXXXX)
svc_pid=
cleanup () {
    if [ -n "$svc_pid" ]; then kill -TERM "$svc_pid" 2>/dev/null; wait "$svc_pid" 2>/dev/null || true; fi
    if [ $keep -eq 1 ]; then echo "kept $work"; else rm -rf "$work"; fi
}
trap cleanup EXIT
port () { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
gw=tcp://127.0.0.1:$(port); api=tcp://127.0.0.1:$(port)
export CW_CRED=$work/svc/operator.cred
run () { printf '\033[2m$ %s\033[0m\n' "$*"; "$@"; }
cwctl () { run "$B/coach/cwctl" "$@"; }
edge () { local cred=$1; shift; run "$B/ingest/cw-edge" --cred "$work/$cred" "$@"; }
as () { local cred=$1; shift; cwctl --cred "$work/$cred" "$@"; }

say "the operator starts the service: keys, database, an operator credential"
run "$B/coach/coachwired" init "$work/svc" --endpoint "$gw" --api-endpoint "$api"
"$B/coach/coachwired" run "$work/svc" 2>"$work/coachwired.log" &
svc_pid=$!
for _ in $(seq 1 100); do [ -f "$work/svc/endpoints" ] && break; sleep 0.05; done
cat "$work/coachwired.log"

say "two people, their phones, and a coach"
cwctl user add hana --locale ja --tz Asia/Tokyo --out "$work/hana.cred"
cwctl user add alex --locale en --tz Europe/London --out "$work/alex.cred"
cwctl device enroll hana --label phone --out "$work/hana-phone.cred" >/dev/null
cwctl device enroll alex --label phone --out "$work/alex-phone.cred" >/dev/null
cwctl coach add kim --out "$work/kim.cred" >/dev/null
cwctl device list

say "an unknown or revoked device is refused at the handshake: no payload is read"
cwctl device enroll alex --label old-watch --out "$work/old-watch.cred" >/dev/null
cwctl device revoke "$(sed -n 's/^id = //p' "$work/old-watch.cred")"
edge old-watch.cred --timeout 2 simulate diet --days 1 && exit 1 \
    || echo "(exit $?: nothing accepted; the frames stay queued, sealed, on the watch)"

say "each person chooses, field by field and purpose by purpose (nothing is granted by default)"
for p in hana alex; do
    as $p.cred consent grant 'running.*' coaching
    as $p.cred consent grant 'meal.*' coaching >/dev/null
    as $p.cred consent grant running.cadence retention >/dev/null
    # a demo runs at any hour: no quiet hours (by default 22:00-07:00 in their own time zone)
    as $p.cred settings --quiet off >/dev/null
done
as hana.cred coach accept kim
as hana.cred consent grant running.cadence coach_review
as hana.cred consent show --field 'running.*'

say "hana's phone imports real recordings: a Garmin FIT run and a food diary, both years old"
edge hana-phone.cred import tests/data/activity-small-fenix2-run.fit tests/data/food_demo_diary.csv
echo "(old recordings become progress against the plan; nudges are for the moment, not for history)"

say "a run now: cadence drifts from 172 to 150 steps/min over 5 minutes (simulated phone)"
edge hana-phone.cred --quiet simulate run --duration 300 --cadence 172 --cadence-end 150
edge alex-phone.cred --quiet simulate run --duration 300 --cadence 172 --cadence-end 150 --seed 7
sleep 1

say "the nudges on hana's phone (Japanese), each with what it used, under which grant, and why"
edge hana-phone.cred nudges --wait 2
say "the nudges on alex's phone (English)"
edge alex-phone.cred nudges --wait 2

say "coach kim sees only what hana shared for coach_review, and the view is logged for hana"
as kim.cred clients
as kim.cred progress hana --goal cadence --limit 8
as kim.cred nudges hana

say "hana withdraws cadence for coaching; another low-cadence run: no cadence nudge"
as hana.cred consent revoke running.cadence coaching
edge hana-phone.cred --quiet simulate run --duration 300 --cadence 150 --seed 3
sleep 1
as hana.cred nudges --held --limit 4
n=$("$B/coach/cwctl" --cred "$work/hana.cred" --json nudges --all \
    | python3 -c 'import json,sys; d=json.load(sys.stdin); print(len(d.get("nudges", [])))')
echo "hana's nudges in all: $n (none added after the withdrawal)"

say "what hana can check: every use of her data, and the signed receipts, verified offline"
as hana.cred consent access-log --since 1 | tail -6
as hana.cred consent receipts --out "$work/hana-receipts.jsonl" >/dev/null
as hana.cred consent receipts --verify "$work/hana-receipts.jsonl"

say "what the service counted"
cwctl stats | grep -E "frames_accepted|frames_nothing|nudges_delivered|nudge_acks|rejected|zap_refused"
