#!/usr/bin/env bash
# The Python connector (hio.Stream) streams 300 files into 1 PE running a slow command,
# so some go P2P and some spill to the master's backlog; the PE is killed once while a
# session is open, so unacknowledged messages are sent again (same ids). Then
# hio.Client waits, and every file has exactly one result, its sha256: counts of
# inputs, results, duplicates and lost. "in" at the master counts distinct message ids,
# so 300 there says no resend became a second message.
. "$(dirname "$0")/lib.sh"
PY=${HIO_PYTHON:-python3}
export PYTHONPATH="${PYTHONPATH:-$(cd "$(dirname "$0")/../../python" && pwd)}"

"$HIO" up --pes 1 --min-pes 1 --max-pes 1 --state-dir "$STATE" \
	--exec 'sleep 0.05; sha256sum "$HIO_INPUT" | cut -c1-64' >/dev/null || { fail "hio up"; finish; }
eq "idle PEs after up" "$(pe_count idle)" 1

cd "$T" || exit 1
# 300 files, 1 KB to 256 KB, in subdirectories.
awk 'BEGIN { srand(13); for (i = 0; i < 300; i++) {
	printf "data/p%d/f%03d.bin %d\n", i % 4, i, int(1024 * exp(rand() * log(256))) } }' >sizes
while read -r f sz; do
	mkdir -p "$(dirname "$f")"
	head -c "$sz" /dev/urandom >"$f"
done <sizes

"$PY" - "$STATE" >stream.out 2>stream.err <<'PYEOF'
import hashlib, json, os, signal, sys, threading
import hio

state = sys.argv[1]
names = [line.split()[0] for line in open("sizes")]
client = hio.Client(state_dir=state)
killed = threading.Event()

def kill_pe_once(ack):
    # After 5 acks, kill the PE while it holds a session: what it had in flight must
    # be sent again. Only this test's cluster is touched (its PE's pid from status).
    if ack.via == "pe" and not killed.is_set() and s.stats["via_pe"] >= 5:
        killed.set()
        pids = [p["pid"] for p in hio.Client(state_dir=state).status()["pes"] if p.get("pid")]
        for pid in pids:
            os.kill(pid, signal.SIGKILL)
        print("killed PE pid(s)", pids, file=sys.stderr)

with hio.Stream(state_dir=state, max_pes=3, spill_ms=300, on_ack=kill_pe_once) as s:
    futs = {n: s.send_file(n) for n in names}
acks = {n: f.result() for n, f in futs.items()}
st = s.stats
client.wait(timeout=300)
results = client.results()
by_name = {}
for r in results:
    by_name.setdefault(r.name, []).append(r)
bad = [n for n in names if n in by_name and (by_name[n][0].state != "done" or
       client.read(n).decode().strip() != hashlib.sha256(open(n, "rb").read()).hexdigest())]
got = client.get(names[0], "got")
get_ok = (got == [os.path.join("got", "stdout")] and
          open(got[0], "rb").read() == client.read(names[0]) and
          not [f for f in os.listdir("got") if f.endswith(".part")])
out = {
    "get_ok": get_ok,
    "acked_ok": sum(a.ok for a in acks.values()),
    "via_pe": sum(a.via == "pe" for a in acks.values()),
    "via_backlog": sum(a.via == "backlog" for a in acks.values()),
    "resent": st["resent"],
    "killed": killed.is_set(),
    "results": len(results),
    "duplicates": sum(len(v) - 1 for v in by_name.values()),
    # A resend keeps its id: an entry under another id would be a second message.
    "id_mismatch": sum(by_name[n][0].id != acks[n].id for n in names if n in by_name),
    "lost": sum(n not in by_name for n in names),
    "mismatched": len(bad),
    "extra": sorted(set(by_name) - set(names)),
    "stats": st,
}
print(json.dumps(out))
PYEOF
check "python stream script exit 0" test $? -eq 0
cat stream.out
r() { jq -r ".$1" stream.out; }
eq "acknowledged" "$(r acked_ok)" 300
check "some went P2P ($(r via_pe))" test "$(r via_pe)" -gt 0
check "some spilled to the backlog ($(r via_backlog))" test "$(r via_backlog)" -gt 0
eq "the PE was killed mid-stream" "$(r killed)" true
check "unacknowledged messages were sent again ($(r resent))" test "$(r resent)" -gt 0
eq "inputs (distinct messages at the master)" "$(pfield default in)" 300
eq "results" "$(r results)" 300
eq "duplicates (entries beyond one per input)" "$(r duplicates)" 0
eq "entries whose id is not the one the connector sent" "$(r id_mismatch)" 0
eq "lost" "$(r lost)" 0
eq "results that are not their file's sha256" "$(r mismatched)" 0
eq "entries of names never sent" "$(r extra)" "[]"
eq "Client.get copied the result files" "$(r get_ok)" true
eq "done" "$(pfield default done)" 300
eq "failed" "$(pfield default failed)" 0
[ "$FAILS" -eq 0 ] || tail -n 30 stream.err >&2

# The PE stops answering without dying (SIGSTOP) while it holds messages: the master
# sees its heartbeats stop and replaces it; hio.Stream asks the master about the PE
# it waits on and sends what it held again. The stream closes, every file once.
mkdir -p stop
for i in $(seq 1 20); do head -c $((2000 + i * 53)) /dev/urandom >"stop/s$i"; done
"$PY" - "$STATE" >stop.out 2>stop.err <<'PYEOF'
import glob, json, os, signal, sys, threading, time
import hio

state = sys.argv[1]
names = sorted(glob.glob("stop/s*"))
stopped = []

def stop_pe_once(ack):
    if not stopped and ack.via == "pe":
        pids = [p["pid"] for p in hio.Client(state_dir=state).status()["pes"]
                if p.get("pid") and p["state"] in ("idle", "busy")]
        for pid in pids:
            os.kill(pid, signal.SIGSTOP)
        stopped.extend(pids)
        stopped_at.append(time.monotonic())

stopped_at = []
s = hio.Stream(state_dir=state, max_pes=2, spill_ms=300, on_ack=stop_pe_once)
futs = [s.send_file(n) for n in names]
# Bounded, so a stream stuck on the stopped PE fails this check instead of hanging.
flushed = s.flush(timeout=90)
closed_after = time.monotonic() - stopped_at[0] if stopped_at and flushed else -1
s.close(flush=False)
acks = [f.result() for f in futs if f.done()]
for pid in stopped:
    os.kill(pid, signal.SIGKILL)
print(json.dumps({"stopped": len(stopped), "ok": sum(a.ok for a in acks),
                  "closed_after_s": round(closed_after, 1), "resent": s.stats["resent"]}))
PYEOF
check "python SIGSTOP script exit 0" test $? -eq 0
cat stop.out
eq "a PE was stopped mid-stream" "$(jq -r .stopped stop.out)" 1
eq "stop: acknowledged" "$(jq -r .ok stop.out)" 20
check "stop: messages it held were sent again ($(jq -r .resent stop.out))" test "$(jq -r .resent stop.out)" -gt 0
check "stop: the stream closed within 60 s of the SIGSTOP ($(jq -r .closed_after_s stop.out) s)" \
	awk -v t="$(jq -r .closed_after_s stop.out)" 'BEGIN { exit !(t >= 0 && t <= 60) }'
check "hio wait after the SIGSTOP round" "$HIO" wait --timeout 120
"$HIO" results --json >stop.json
eq "stop: entries, exactly one per input" "$(jq '[.[] | select(.name | startswith("stop/"))] | length' stop.json)" 20
eq "stop: done" "$(jq '[.[] | select(.state == "done" and (.name | startswith("stop/")))] | length' stop.json)" 20
[ "$FAILS" -eq 0 ] || tail -n 30 stop.err >&2
finish
