#!/usr/bin/env bash
# storage_full.sh - storage faults: the data volume fills up under a streaming device, then
# frees up; and damaged database / WAL files at start.
#
#   tests/e2e/storage_full.sh            (BIN=build dir; needs root for mount -t tmpfs)
#
# 1. The service's data dir sits on a 24 MB tmpfs. Device 1 streams a run (all acked). A
#    filler file takes the rest of the volume, then device 2 streams: the gateway must stop
#    acknowledging and answer with Backoff (device summary `backoffs` > 0), frames stay queued on
#    the device, nothing acked before is lost. The filler goes: the service resumes by itself,
#    the device's queue drains, every published frame is stored exactly once.
# 2. A truncated database, a database with a damaged b-tree page, and (in WAL mode) a
#    truncated or bit-flipped WAL holding acknowledged commits: `coachwired run` must refuse
#    to start with a clear message.
# 3. A payload segment with a flipped bit (caught by the payload's AEAD when read: the export
#    counts it unreadable); one cut short, or all of them missing: refused at start. Random single-bit flips of the database are counted
#    (detected / not detected at start): SQLite's quick_check checks structure, not contents.
# Prints SKIPPED (exit 0) when tmpfs cannot be mounted (not root, or no CAP_SYS_ADMIN).
# An undetected WAL fault is a FAIL (CW_WAL_STRICT=0 reports it as a WARNING instead).
. "$(dirname "$0")/lib.sh"
VOL=$WORK/vol
flips=${CW_FLIPS:-5}
[ "${CW_LONG:-0}" = 1 ] && flips=50

mkdir -p "$VOL"
if [ "$(id -u)" != 0 ] || ! mount -t tmpfs -o size=24m,mode=0700 tmpfs "$VOL" 2>"$WORK/mount.err"; then
    echo "storage_full: cannot mount a tmpfs ($(id -un), $(cat "$WORK/mount.err" 2>/dev/null))"
    echo "SKIPPED: storage faults need root (mount -t tmpfs)"
    exit 0
fi
vol_cleanup () {
    [ -n "$SVC_PID" ] && kill -9 "$SVC_PID" 2>/dev/null || true
    [ -n "${DEV_PID:-}" ] && kill -9 "$DEV_PID" 2>/dev/null || true
    wait 2>/dev/null || true
    SVC_PID=
    umount "$VOL" 2>/dev/null || umount -l "$VOL" 2>/dev/null || true
    cleanup
}
trap vol_cleanup EXIT
SVC=$VOL/svc

stored () { db "SELECT count(*) FROM frames"; }
summary () {   # FILE KEY
    python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))[sys.argv[2]])' "$1" "$2"
}

svc_init
svc_start
"$CWCTL" user add ana --out "$WORK/ana.cred" >/dev/null
grant_all "$WORK/ana.cred"
for d in 1 2; do "$CWCTL" device enroll ana --out "$WORK/d$d.cred" >/dev/null; done

# --- 1. full volume -----------------------------------------------------------------------
"$CWEDGE" --cred "$WORK/d1.cred" --quiet --json --timeout 60 simulate run --duration 120 \
    --seed 1 >"$WORK/d1.json" 2>"$WORK/d1.err" || fail "device 1: $(cat "$WORK/d1.json" "$WORK/d1.err")"
acked1=$(summary "$WORK/d1.json" acked)
before=$(stored)
[ "$before" = "$acked1" ] || fail "device 1: $acked1 acked, $before stored"
# fill what is left; keep nothing free for the WAL or the database to grow into
dd if=/dev/zero of="$VOL/filler" bs=64k 2>/dev/null || true
free_kb=$(df -k --output=avail "$VOL" | tail -1 | tr -d ' ')
t0=$(date +%s.%N)
"$CWEDGE" --cred "$WORK/d2.cred" --quiet --json --timeout 120 simulate run --duration 590 \
    --seed 2 >"$WORK/d2.json" 2>"$WORK/d2.err" &
DEV_PID=$!
# wait until the gateway has failed a commit (the log says so) or the device gave up
full=0
for _ in $(seq 1 300); do
    if grep -qiE "full|ENOSPC|No space" "$WORK/coachwired.log"; then full=1; break; fi
    kill -0 "$DEV_PID" 2>/dev/null || break
    sleep 0.1
done
[ $full = 1 ] || fail "the service never reported its volume full ($(tail -5 "$WORK/coachwired.log"))"
sleep 3        # the device keeps being told to back off meanwhile
kill -0 "$DEV_PID" 2>/dev/null || fail "device 2 stopped while the volume was full: $(cat "$WORK/d2.json")"
during=$(stored)
[ "$during" -ge "$before" ] || fail "acked frames lost while full: $before -> $during"
svc_alive=0; kill -0 "$SVC_PID" 2>/dev/null && svc_alive=1
[ $svc_alive = 1 ] || fail "coachwired died when its volume filled"
rm -f "$VOL/filler"
t_free=$(date +%s.%N)
wait "$DEV_PID" && dev_rc=0 || dev_rc=$?
DEV_PID=
t1=$(date +%s.%N)
[ $dev_rc = 0 ] || fail "device 2 exit $dev_rc after space returned: $(cat "$WORK/d2.json" "$WORK/d2.err")"
backoffs=$(summary "$WORK/d2.json" backoffs)
batches2=$(summary "$WORK/d2.json" batches)
acked2=$(summary "$WORK/d2.json" acked)
[ "$backoffs" -gt 0 ] || fail "device 2 saw no Backoff (summary $(cat "$WORK/d2.json"))"
[ "$acked2" = "$batches2" ] || fail "device 2: $acked2 of $batches2 acked"
svc_stop TERM
total=$((acked1 + acked2))
n=$(stored)
distinct=$(db "SELECT count(*) FROM (SELECT DISTINCT device_id, stream, sequence FROM frames)")
gaps=$(db "SELECT count(*) FROM (SELECT device_id, stream, max(sequence) m, count(*) c FROM frames GROUP BY device_id, stream) WHERE m != c")
[ "$n" = "$total" ] || fail "stored $n frames, devices had $total acked"
[ "$distinct" = "$n" ] || fail "$((n - distinct)) frames stored twice"
[ "$gaps" = 0 ] || fail "$gaps streams with missing sequences"
printf 'ok - volume full (%s KiB free after the filler): %s backoffs, %s frames stored before, %s while full, service alive; drained %.1f s after space returned (stream %.1f s); %s frames stored exactly once\n' \
    "$free_kb" "$backoffs" "$before" "$during" "$(python3 -c "print($t1 - $t_free)")" "$(python3 -c "print($t1 - $t0)")" "$n"

# --- 2. damaged files at start ------------------------------------------------------------
# each case runs on a copy of the data dir: refused = exit != 0 within 20 s, endpoints never written
start_verdict () {   # DIR -> prints refused|served; the message goes to DIR.log
    local dir=$1 pid rc=
    rm -f "$dir/endpoints"
    "$COACHWIRED" run "$dir" --listen "tcp://127.0.0.1:*" --api-listen "tcp://127.0.0.1:*" \
        >"$dir.log" 2>&1 &
    pid=$!
    for _ in $(seq 1 200); do
        if ! kill -0 "$pid" 2>/dev/null; then
            wait "$pid" && rc=0 || rc=$?
            break
        fi
        [ -f "$dir/endpoints" ] && break
        sleep 0.1
    done
    if [ -z "$rc" ]; then kill -TERM "$pid" 2>/dev/null || true; wait "$pid" 2>/dev/null || true; fi
    if [ -n "$rc" ] && [ "$rc" != 0 ] && [ ! -f "$dir/endpoints" ]; then echo refused; else echo served; fi
}
copy_svc () { rm -rf "$WORK/$1"; cp -a "$SVC" "$WORK/$1"; echo "$WORK/$1"; }

dbsize=$(stat -c %s "$SVC/coachwire.db")
c=$(copy_svc trunc)
truncate -s $((dbsize / 2)) "$c/coachwire.db"
[ "$(start_verdict "$c")" = refused ] || fail "a database truncated to half was served"
pass "truncated database (to $((dbsize / 2)) of $dbsize bytes) refused: $(grep -m1 -iE 'damag|corrupt|malformed|integrity|refus|fail' "$c.log" || head -1 "$c.log")"

c=$(copy_svc btree)
# page 2's b-tree page-type byte (offset 4096): a page of a kind that does not exist
printf '\x07' | dd of="$c/coachwire.db" bs=1 seek=4096 conv=notrunc 2>/dev/null
[ "$(start_verdict "$c")" = refused ] || fail "a database with a damaged b-tree page was served"
pass "damaged b-tree page refused: $(grep -m1 -iE 'damag|corrupt|malformed|integrity|refus|fail' "$c.log" || head -1 "$c.log")"

detected=0
for i in $(seq 1 "$flips"); do
    c=$(copy_svc flip)
    off=$(( (RANDOM * 32768 + RANDOM) % dbsize ))
    bit=$(( RANDOM % 8 ))
    python3 - "$c/coachwire.db" "$off" "$bit" <<'PY'
import sys
p, off, bit = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
with open(p, "r+b") as f:
    f.seek(off); b = f.read(1); f.seek(off); f.write(bytes([b[0] ^ (1 << bit)]))
PY
    [ "$(start_verdict "$c")" = refused ] && detected=$((detected + 1))
done
echo "ok - random single-bit flips in the database: $detected of $flips refused at start (the rest hit row contents: quick_check checks structure; sealed payloads fail their AEAD when read)"

# WAL: acknowledged commits that are only in the WAL (the service killed before a checkpoint)
svc_start
"$CWCTL" device enroll ana --out "$WORK/d3.cred" >/dev/null
# kill -9 in the middle of a stream: the last commits (acknowledged) are in the WAL only
"$CWEDGE" --cred "$WORK/d3.cred" --quiet --json --timeout 60 simulate run --duration 590 \
    --seed 3 >"$WORK/d3.json" 2>"$WORK/d3.err" &
DEV_PID=$!
for _ in $(seq 1 100); do
    [ "$(db "SELECT count(*) FROM frames")" -gt "$((total + 200))" ] && break
    sleep 0.05
done
svc_stop KILL
kill -9 "$DEV_PID" 2>/dev/null || true
wait "$DEV_PID" 2>/dev/null || true
DEV_PID=
wal=$SVC/coachwire.db-wal
# the WAL's frames up to its last commit: those after the header whose salts match the
# header's (a reused WAL keeps stale frames of an earlier generation after them), up to the
# last one that ends a transaction (a kill -9 mid-commit leaves frames of a transaction that
# never committed after it: damaging those loses nothing acknowledged)
read -r wal_frames wal_page < <(python3 - "$wal" <<'PY'
import struct, sys
try:
    d = open(sys.argv[1], "rb").read()
except OSError:
    print(0, 4096); sys.exit()
if len(d) < 32:
    print(0, 4096); sys.exit()
page = struct.unpack(">I", d[8:12])[0]
salt = d[16:24]
n, last_commit, off = 0, 0, 32
while off + 24 + page <= len(d) and d[off + 8:off + 16] == salt:
    n += 1
    if struct.unpack(">I", d[off + 4:off + 8])[0] != 0:
        last_commit = n
    off += 24 + page
print(last_commit, page)
PY
)
# what a clean open of an undamaged copy sees: every committed (so every acked) frame
c=$(copy_svc walref)
expected=$(sqlite3 -batch -noheader "$c/coachwire.db" "SELECT count(*) FROM frames")
[ "$expected" -gt "$total" ] || fail "no frames of device 3 committed before the kill"
wal_fail=0
wal_report () {   # NAME DIR
    local verdict; verdict=$(start_verdict "$2")
    local left; left=$(sqlite3 -batch -noheader "$2/coachwire.db" "SELECT count(*) FROM frames" 2>/dev/null || echo "?")
    if [ "$verdict" = refused ]; then
        pass "$1 refused at start: $(grep -m1 -iE 'damag|corrupt|malformed|integrity|wal|refus|fail' "$2.log" || head -1 "$2.log")"
    elif [ "$left" = "$expected" ]; then
        # the damaged commit held no frames (the coach's cursor, counters): nothing acked lost
        pass "$1 served: the damaged commit held no frames ($left of $expected committed frames readable)"
    else
        echo "WARNING - $1 NOT detected: coachwired served it; frames readable afterwards $left of $expected committed ($((expected - ${left/\?/0})) acknowledged frames silently dropped)"
        wal_fail=1
    fi
}
if [ "$wal_frames" -lt 2 ]; then
    echo "ok - WAL case not exercised: the WAL held $wal_frames frames after kill -9 (checkpointed)"
else
    c=$(copy_svc walflip)
    # a bit in the page data of the frame that ends the WAL's last transaction (the last
    # acknowledged commit)
    off=$(( 32 + (wal_frames - 1) * (wal_page + 24) + 24 + 2000 ))
    python3 - "$c/coachwire.db-wal" "$off" <<'PY'
import sys
p, off = sys.argv[1], int(sys.argv[2])
with open(p, "r+b") as f:
    f.seek(off); b = f.read(1); f.seek(off); f.write(bytes([b[0] ^ 0x10]))
PY
    wal_report "bit-flipped WAL (last of $wal_frames valid frames)" "$c"
    c=$(copy_svc waltrunc)
    truncate -s $(( 32 + (wal_frames / 2) * (wal_page + 24) + 100 )) "$c/coachwire.db-wal"
    wal_report "WAL truncated mid-frame (to $((wal_frames / 2)) of $wal_frames frames)" "$c"
fi
# --- 3. damaged payload segments ---------------------------------------------------------
# Payloads live in coachwire.db-segments/: a flipped bit in one is caught by its AEAD when
# read (the export counts it unreadable, the rest export); a segment cut short or missing is
# refused at start (every file from the oldest frame's to the newest's, the newest in full).
seg_serve () {   # DIR: runs coachwired on a copy, the api on the credentials' endpoint
    "$COACHWIRED" run "$1" --listen "tcp://127.0.0.1:*" --api-listen "$API_EP" >"$1.log" 2>&1 &
    SEG_PID=$!
    for _ in $(seq 1 100); do [ -f "$1/endpoints" ] && return 0; sleep 0.1; done
    fail "coachwired did not start on $1: $(cat "$1.log")"
}
seg_stop () { kill -TERM "$SEG_PID" 2>/dev/null || true; wait "$SEG_PID" 2>/dev/null || true; }
c=$(copy_svc segflip)
rm -f "$c/endpoints"
read -r seg off < <(sqlite3 -batch -noheader -separator ' ' "$c/coachwire.db" \
    "SELECT seg, seg_off + seg_len / 2 FROM frames WHERE seg IS NOT NULL ORDER BY row LIMIT 1 OFFSET 10")
[ -n "$off" ] || fail "no frame stored in a segment"
segfile=$(printf '%s/coachwire.db-segments/%08x.seg' "$c" "$seg")
python3 - "$segfile" "$off" <<'PY'
import sys
p, off = sys.argv[1], int(sys.argv[2])
with open(p, "r+b") as f:
    f.seek(off); b = f.read(1); f.seek(off); f.write(bytes([b[0] ^ 0x04]))
PY
seg_serve "$c"
"$CWCTL" --cred "$WORK/ana.cred" data export --out "$WORK/segflip.jsonl" >"$WORK/segflip.txt" 2>&1 \
    || fail "export after a flipped segment bit: $(cat "$WORK/segflip.txt")"
seg_stop
grep -q "(1 unreadable)" "$WORK/segflip.txt" || fail "a flipped bit in a stored payload was not caught: $(cat "$WORK/segflip.txt")"
pass "bit-flipped payload segment: caught when read ($(cat "$WORK/segflip.txt" | cut -c1-60)...)"
c=$(copy_svc segcut)
last=$(ls "$c/coachwire.db-segments/"*.seg | tail -1)
truncate -s $(( $(stat -c %s "$last") / 2 )) "$last"
[ "$(start_verdict "$c")" = refused ] || fail "a payload segment cut in half was served: $(tail -3 "$c.log")"
pass "payload segment cut in half refused at start: $(grep -m1 -o 'segment [0-9a-f]*\.seg is cut short[^:]*' "$c.log")"
c=$(copy_svc segmissing)
rm -rf "$c/coachwire.db-segments"
[ "$(start_verdict "$c")" = refused ] || fail "a database without its segments was served: $(tail -3 "$c.log")"
pass "database restored without its segments refused at start: $(grep -m1 -o 'segment [0-9a-f]*\.seg: missing' "$c.log")"

if [ $wal_fail = 1 ]; then
    [ "${CW_WAL_STRICT:-1}" = 1 ] && fail "WAL damage not detected at start (product gap; see tests/RELIABILITY.md)"
    echo "PASS (with the WAL gap above reported as a warning, CW_WAL_STRICT=0)"
else
    echo "PASS"
fi
