#!/usr/bin/env bash
# demo.sh - the whole pipeline on one machine: build, start coachwired on 127.0.0.1, add a
# person, enroll their phone, import real recordings (a Garmin FIT run, a phone accelerometer
# walk, a food diary) and simulated data (a run whose cadence drifts low, a week of meals),
# then show what the service holds and counted. Everything lives in a temporary directory.
#
#   deploy/demo.sh            run it
#   deploy/demo.sh --keep     keep the service directory afterwards (it prints where)
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
cd "$top"
. deploy/deps.sh
keep=0
[ "${1:-}" = "--keep" ] && keep=1
[ "${1:-}" = "-h" ] || [ "${1:-}" = "--help" ] && { sed -n '2,9p' "$0"; exit 0; }

cw_install_deps
say () { printf '\n\033[1m== %s\033[0m\n' "$*"; }
say "building (build/demo)"
cmake -S . -B build/demo -DCMAKE_BUILD_TYPE=Release -DCW_TESTS=OFF >/dev/null
cmake --build build/demo -j"$(nproc)" --target coachwired cwctl cw-edge 2>&1 | grep -E "error|warning" || true
B=$top/build/demo
work=$(mktemp -d /tmp/coachwire-demo.XXXXXX)
svc_pid=
cleanup () {
    [ -n "$svc_pid" ] && kill -TERM "$svc_pid" 2>/dev/null && wait "$svc_pid" 2>/dev/null
    if [ $keep -eq 1 ]; then echo "kept $work"; else rm -rf "$work"; fi
}
trap cleanup EXIT
port () { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
gw=tcp://127.0.0.1:$(port); api=tcp://127.0.0.1:$(port)

say "coachwired init: keys, database and an operator credential"
"$B/coach/coachwired" init "$work/svc" --endpoint "$gw" --api-endpoint "$api"
"$B/coach/coachwired" run "$work/svc" 2>"$work/coachwired.log" &
svc_pid=$!
for _ in $(seq 1 100); do [ -f "$work/svc/endpoints" ] && break; sleep 0.05; done
cat "$work/coachwired.log"
export CW_CRED=$work/svc/operator.cred
cwctl () { echo "\$ cwctl $*"; "$B/coach/cwctl" "$@"; }
edge () { echo "\$ cw-edge $*"; "$B/ingest/cw-edge" --cred "$work/phone.cred" "$@"; }

say "the operator adds a person (Japanese locale) and enrolls her phone"
cwctl user add hana --locale ja --tz Asia/Tokyo --out "$work/hana.cred"
cwctl device enroll hana --label phone --out "$work/phone.cred"
cwctl device list

say "the phone imports real recordings: each batch sealed on the phone, queued, acknowledged"
edge import tests/data/activity-small-fenix2-run.fit
edge import tests/data/user1_frontpocket_1506422223341.csv tests/data/food_demo_diary.csv

say "simulated data: a 5-minute run whose cadence drifts from 172 to 158 steps/min, a week of meals"
edge simulate run --duration 300 --cadence 172 --cadence-end 158
edge --json simulate diet --days 7 --energy 2400 --protein 60 --sugar 70

say "a revoked device is refused at the handshake: no payload is read"
cwctl device enroll hana --label old-watch --out "$work/watch.cred" >/dev/null
cwctl device revoke "$(sed -n 's/^id = //p' "$work/watch.cred")"
echo "\$ cw-edge --cred watch.cred --timeout 2 simulate diet --days 1"
"$B/ingest/cw-edge" --cred "$work/watch.cred" --timeout 2 simulate diet --days 1 && exit 1 \
    || echo "(exit $?: nothing was accepted; the frames stay queued on the watch)"

say "what the service counted"
cwctl stats
say "at rest, every reading is sealed under the person's data key"
printf 'frames stored: '; sqlite3 "$work/svc/coachwire.db" "SELECT count(*) FROM frames"
if grep -a -q "Sweet Potato" "$work/svc"/coachwire.db*; then echo "plaintext found!"; exit 1
else echo "the food diary's item names appear nowhere in the database files"; fi
