# lib.sh - shared by the end-to-end scripts: start and stop a real coachwired on free
# 127.0.0.1 ports in a temporary directory, and run the real cwctl and cw-edge against it.
# Needs: BIN (the build directory), DATA (tests/data). Sourced, not run.
set -euo pipefail
: "${BIN:?BIN must name the build directory}"
: "${DATA:=$(cd "$(dirname "${BASH_SOURCE[0]}")/../data" && pwd)}"
COACHWIRED=$BIN/coach/coachwired
CWCTL=$BIN/coach/cwctl
CWEDGE=$BIN/ingest/cw-edge
WORK=$(mktemp -d /tmp/cw_e2e.XXXXXX)
SVC=$WORK/svc
SVC_PID=
GATEWAY_EP=
API_EP=

fail () { echo "FAIL: $*" >&2; exit 1; }
pass () { echo "ok - $*"; }

cleanup () {
    [ -n "$SVC_PID" ] && kill -9 "$SVC_PID" 2>/dev/null || true
    wait 2>/dev/null || true
    [ "${KEEP:-0}" = 1 ] && echo "kept $WORK" >&2 || rm -rf "$WORK"
}
trap cleanup EXIT

free_port () {
    python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()' 2>/dev/null \
        || echo $((20000 + RANDOM % 20000))
}

# svc_init: coachwired init with fixed free ports (restarts must keep the endpoints the
# credentials name).
svc_init () {
    GATEWAY_EP=tcp://127.0.0.1:$(free_port)
    API_EP=tcp://127.0.0.1:$(free_port)
    "$COACHWIRED" init "$SVC" --endpoint "$GATEWAY_EP" --api-endpoint "$API_EP" >/dev/null
    export CW_CRED=$SVC/operator.cred
}

svc_start () {
    "$COACHWIRED" run "$SVC" "$@" 2>>"$WORK/coachwired.log" &
    SVC_PID=$!
    for _ in $(seq 1 100); do
        [ -f "$SVC/endpoints" ] && grep -q "$API_EP" "$SVC/endpoints" && return 0
        kill -0 "$SVC_PID" 2>/dev/null || { cat "$WORK/coachwired.log" >&2; fail "coachwired died"; }
        sleep 0.05
    done
    fail "coachwired did not start"
}

svc_stop () {   # signal (TERM by default)
    local sig=${1:-TERM}
    [ -n "$SVC_PID" ] || return 0
    kill -"$sig" "$SVC_PID" 2>/dev/null || true
    wait "$SVC_PID" 2>/dev/null || true
    SVC_PID=
    rm -f "$SVC/endpoints"
}

db () { sqlite3 -batch -noheader "$SVC/coachwire.db" "$@"; }

# grant_all CRED: the person behind CRED grants every field for retention, as they would with
# cwctl (nothing is granted by default, and the gateway stores nothing ungranted).
grant_all () {
    "$CWCTL" --cred "$1" consent grant '*' retention >/dev/null
}
