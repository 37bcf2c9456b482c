#!/usr/bin/env bash
# The master's dashboard (/ui) in headless Chromium while files stream through a
# mount: the page signs in with ?token=, shows the numbers /v1/status gives (between a
# snapshot taken before and one after the page's), draws the queue and PE series, the
# mount and a failure with its reason; without the token it shows the sign-in form.
# The screenshot is kept as $HIO_BUILD/tests/ui-dashboard.png.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/fs_lib.sh"

N=120
SHOT="$HIO_BUILD/tests/ui-dashboard.png"

if ! command -v chromium >/dev/null; then
	DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >"$T/apt.log" 2>&1 ||
		{ fail "cannot install Debian's chromium (see below)"; tail -5 "$T/apt.log" >&2; finish; }
fi
# browse OUT ARGS... URL: one headless run with a profile of its own.
browse() {
	local out=$1 prof
	shift
	prof=$(mktemp -d "$T/chrome.XXXXXX")
	timeout -k 5 90 chromium --headless --no-sandbox --disable-gpu --disable-quic \
		--no-first-run --disable-background-networking --disable-component-update \
		--disable-sync --user-data-dir="$prof" --virtual-time-budget=6000 "$@" \
		>"$out" 2>>"$T/chromium.log"
}

mkdir -p "$MNT"
# Inputs named bad* fail (with a reason); the others take 0.3 s each on 2 PEs, so the
# stream lasts long enough to look at it.
fs_up 'case "$HIO_NAME" in bad*) echo "refused: $HIO_NAME" >&2; exit 3;; esac
sleep 0.3; sha256sum "$HIO_INPUT"' --max-pes 2 || { fail "hio up --mount"; finish; }
U=$(cat "$T/url")
TOK=$(cat "$STATE/token")

echo broken >"$MNT/bad1.dat" || fail "write bad1.dat"
check "the failing input is stored as failed" wait_for 30 sh -c \
	"[ \"\$('$HIO' status --json --state-dir '$STATE' | jq '.pipelines[0].failed')\" = 1 ]"
(for i in $(seq 1 "$N"); do echo "input $i" >"$MNT/in$i.dat"; done) &
FS_BG_PIDS+=($!)
mid_stream() { local d; d=$(pfield default done) && [ "$d" -ge 15 ]; }
check "the stream is under way" wait_for 30 mid_stream

# The screenshot mid-stream (the artifact, and docs/img/ui.png).
rm -f "$SHOT"
browse /dev/null --window-size=1400,1250 --hide-scrollbars --screenshot="$SHOT" \
	"$U/ui/?token=$TOK" || fail "chromium --screenshot"
check "the screenshot is a PNG ($SHOT)" sh -c "head -c 8 '$SHOT' | od -An -c | grep -q 'P   N   G'"

status_json >"$T/before.json"
browse "$T/dom.html" --dump-dom "$U/ui/?token=$TOK" || fail "chromium --dump-dom"
status_json >"$T/after.json"
check "the stream was still running when the page loaded" \
	[ "$(jq '.pipelines[0].done' "$T/before.json")" -lt "$N" ]

# dom ID [ATTR]: an attribute (default data-value) of the element with that id.
dom() {
	python3 - "$T/dom.html" "$1" "${2:-data-value}" <<'EOF'
import sys
from html.parser import HTMLParser
path, want, attr = sys.argv[1:]
class P(HTMLParser):
    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if a.get("id") == want:
            print(a.get(attr, "<none>") if a.get(attr) is not None else "<none>")
            raise SystemExit(0)
P().feed(open(path).read())
print("<missing>")
EOF
}
# between NAME JQ: the page's number NAME lies between the snapshot before and after.
between() {
	local v lo hi
	v=$(dom "$1") lo=$(jq "$2" "$T/before.json") hi=$(jq "$2" "$T/after.json")
	if [[ "$v" =~ ^[0-9]+$ ]] && [ "$lo" -le "$v" ] && [ "$v" -le "$hi" ]; then
		ok "dashboard $1 = $v, within /v1/status's $lo..$hi"
	else
		fail "dashboard $1 = '$v', not within /v1/status's $lo..$hi"
	fi
}
eq "the page signed in and fetched (body data-ready)" "$(grep -c 'data-ready="1"' "$T/dom.html")" 1
between n-in '.pipelines[] | select(.name == "default") | .in'
between n-done '.pipelines[] | select(.name == "default") | .done'
eq "dashboard failed" "$(dom n-failed)" "$(jq '.pipelines[0].failed' "$T/after.json")"
eq "dashboard workers" "$(dom n-workers)" "$(jq '[.workers[] | select(.state == "up")] | length' "$T/after.json")"
pes_dom=$(($(dom n-pes data-busy) + $(dom n-pes data-idle) + $(dom n-pes data-starting)))
running='[.pes[] | select(.state == "busy" or .state == "idle" or .state == "starting")] | length'
r0=$(jq "$running" "$T/before.json") r1=$(jq "$running" "$T/after.json")
if [ "$pes_dom" -ge 1 ] && { [ "$pes_dom" -eq "$r0" ] || [ "$pes_dom" -eq "$r1" ]; }; then
	ok "dashboard PEs running = $pes_dom (/v1/status: $r0 before, $r1 after)"
else
	fail "dashboard PEs running = $pes_dom, /v1/status: $r0 before, $r1 after"
fi
check "the Fig. 3 chart plots the queue series" \
	grep -Eq 'data-key="queue" data-points="[1-9][0-9]*"' "$T/dom.html"
check "the Fig. 3 chart plots the PE series" \
	grep -Eq 'data-key="pes" data-points="[1-9][0-9]*"' "$T/dom.html"
check "the throughput chart is drawn" \
	grep -Eq 'data-key="throughput" data-points="[1-9][0-9]*"' "$T/dom.html"
check "the mount is listed with its mount point" grep -q "$MNT (default)" "$T/dom.html"
eq "mount rows" "$(grep -o 'data-spooled=' "$T/dom.html" | wc -l)" \
	"$(jq '.mounts | length' "$T/after.json")"
check "the failure is listed with its reason" \
	grep -Eq '<td>bad1.dat</td><td class="reason">[^<]+</td>' "$T/dom.html"

# Without the token the page asks for it and shows no data.
browse "$T/login.html" --dump-dom "$U/ui/" || fail "chromium --dump-dom (no token)"
check "without a token the sign-in form shows" grep -q '<form id="login">' "$T/login.html"
check "without a token the dashboard stays hidden" grep -q '<main id="dash" hidden' "$T/login.html"
eq "the series endpoint without the token" \
	"$(curl -s -o /dev/null -w '%{http_code}' "$U/v1/pipelines/default/series")" 401
eq "the failures endpoint without the token" \
	"$(curl -s -o /dev/null -w '%{http_code}' "$U/v1/pipelines/default/failures")" 401
eq "the failures endpoint with it" "$(curl -s -H "Authorization: Bearer $TOK" \
	"$U/v1/pipelines/default/failures?limit=5" | jq -r '.failures[0].name')" bad1.dat
eq "a file not in the dashboard" "$(curl -s -o /dev/null -w '%{http_code}' "$U/ui/nope.js")" 404
eq "the script's type" "$(curl -s -o /dev/null -w '%{content_type}' "$U/ui/app.js")" \
	"text/javascript; charset=utf-8"
check "the stream completes" wait_for 90 spool_empty
finish
