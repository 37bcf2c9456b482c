#!/usr/bin/env bash
# Config files for the commands' defaults (docs/operations.md "Config file"):
# - a file's [up] pes and quoted exec (spaces and quotes kept) start that cluster; a
#   top-level state-dir serves status, send, results and down without a flag;
# - the command line beats the file, HIO_STATE_DIR beats the file, a later file beats
#   an earlier one (HIO_CONFIG=A:B), and hio config says where each setting comes from;
# - the user file is found through XDG_CONFIG_HOME or HOME (a fake one: the real
#   /etc/hio is never written; its line in hio config is read or not found);
# - each bad file gives one exact line naming file and line, exit 2 (a bad value: the
#   flag's own error, exit 1, naming the file), and starts nothing.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/fs_lib.sh" # proc_gone

# The file's state-dir is what is tested: no HIO_STATE_DIR unless a step sets one
# (cleanup names $STATE itself). lib.sh's HIO_CONFIG=none stays for everything else.
unset HIO_STATE_DIR
CONF="$T/hio.conf"
hioc() { HIO_CONFIG="$CONF" "$HIO" "$@"; }
daemons() { pgrep -f -- "hio-(master|worker|fs|pe) .*$STATE" | wc -l; }
no_daemons() { [ "$(daemons)" -eq 0 ]; }
pes() { hioc status --json | jq '[.pes[] | select(.pipeline == "default")] | length'; }

cat >"$T/analysis.sh" <<'EOF'
#!/bin/sh
# An analysis with arguments: they arrive as the file's exec line gave them.
echo "args: $*"
wc -c <"$HIO_INPUT"
EOF
# min-pes: the autoscaler keeps the 3 however long a slow machine takes to count them.
cat >"$CONF" <<EOF
# A lab's defaults.
state-dir = $STATE

[up]
pes = 3
min-pes = 3
exec = "sh $T/analysis.sh '--tag=a b'  x"
EOF

# --- the file starts the cluster; status, send, results and down need no flag
hioc up >"$T/url" 2>"$T/up.err"
check "hio up from the file exits 0" test $? -eq 0
check "its state dir is the file's" test -e "$STATE/master.pid"
eq "PEs started ([up] pes = 3)" "$(pes)" 3
check "the daemon count below sees this cluster" test "$(daemons)" -gt 0
eq "hio status finds the cluster by the file's state-dir" \
	"$(hioc status | head -n 1)" "master $(cat "$T/url")"
head -c 4321 /dev/urandom >"$T/in.bin"
(cd "$T" && hioc send in.bin >"$T/send.out")
check "hio send by the file's state-dir" grep -q "^in.bin done" "$T/send.out"
check "hio results get" hioc results get in.bin "$T/out"
check "hio pipeline show (options after its verb)" hioc pipeline show default
eq "the quoted exec's arguments, spaces and quotes kept" "$(head -n 1 "$T/out/stdout")" \
	"args: --tag=a b x"
eq "the analysis read the input" "$(tail -n 1 "$T/out/stdout")" 4321

# HIO_STATE_DIR beats the file's state-dir.
HIO_STATE_DIR="$T/elsewhere" hioc status >/dev/null 2>"$T/env.err"
check "HIO_STATE_DIR beats the file: exit 1" test $? -eq 1
check "it looked in HIO_STATE_DIR" grep -q "no cluster in $T/elsewhere" "$T/env.err"

# A later file beats an earlier one: [status] json = true, then json = false.
printf '[status]\njson = true\n' >"$T/json.conf"
printf '[status]\njson = false\n' >"$T/nojson.conf"
check "json = true: hio status prints JSON" \
	bash -c 'HIO_CONFIG="$1:$2" "$3" status | jq -e .pes >/dev/null' _ "$CONF" "$T/json.conf" "$HIO"
eq "a later file's json = false beats it" \
	"$(HIO_CONFIG="$CONF:$T/json.conf:$T/nojson.conf" "$HIO" status | head -c 7)" "master "

hioc down 2>"$T/down.err"
check "hio down by the file's state-dir exits 0" test $? -eq 0
check "no daemon left for the state dir" wait_for 10 no_daemons
check "no master.pid left" test ! -e "$STATE/master.pid"

# --- the command line beats the file
hioc up --pes 1 --min-pes 1 >/dev/null 2>"$T/up1.err"
check "hio up --pes 1 over the file's pes = 3" test $? -eq 0
eq "PEs started (--pes 1)" "$(pes)" 1
hioc down 2>/dev/null
check "no daemon left after hio down" wait_for 10 no_daemons

# --- hio config: every setting with its source
cat >"$T/sys.conf" <<EOF
# a site's file
[up]
pes = 2
spool-max = 50G
EOF
cat >"$T/want" <<EOF
# $T/sys.conf: read (HIO_CONFIG)
# $CONF: read (HIO_CONFIG)
[up] spool-max = 50G	# $T/sys.conf:4
[up] state-dir = $T/env	# HIO_STATE_DIR (over $CONF:2)
[up] pes = 3	# $CONF:5 (over $T/sys.conf:3)
[up] min-pes = 3	# $CONF:6
[up] exec = sh $T/analysis.sh '--tag=a b'  x	# $CONF:7
EOF
HIO_STATE_DIR="$T/env" HIO_CONFIG="$T/sys.conf:$CONF" "$HIO" config up >"$T/config.out" 2>&1
check "hio config up exits 0" test $? -eq 0
check "hio config up: each setting and where it comes from" diff "$T/want" "$T/config.out"
HIO_MASTER=http://127.0.0.1:1 HIO_TOKEN=x hioc config status >"$T/config.out"
check "hio config: HIO_MASTER makes the file's state-dir unused" grep -qx \
	"\[status\] state-dir = $STATE	# $CONF:2, not used: HIO_MASTER names the master" \
	"$T/config.out"
HIO_CONFIG=none "$HIO" config >"$T/config.out"
eq "HIO_CONFIG=none: no file" "$(cat "$T/config.out")" "# HIO_CONFIG is none or empty: no config file read"
HIO_CONFIG= "$HIO" config up >"$T/config.out"
eq "HIO_CONFIG empty: no file" "$(cat "$T/config.out")" "# HIO_CONFIG is none or empty: no config file read"

# --- the user's file, found by XDG_CONFIG_HOME, else HOME (fake ones). The system file
# comes first whether or not this machine has one, and a key the user's file sets is the
# user's whatever the system file says.
mkdir -p "$T/xdg/hio" "$T/home/.config/hio"
printf '[up]\npes = 7\n' >"$T/xdg/hio/hio.conf"
printf '# home\n[up]\npes = 5\n' >"$T/home/.config/hio/hio.conf"
user_conf() { env -u HIO_CONFIG -u XDG_CONFIG_HOME HOME="$T/home" "$@" "$HIO" config up; }
user_conf XDG_CONFIG_HOME="$T/xdg" >"$T/xdg.out"
check "XDG_CONFIG_HOME: hio config exits 0" test $? -eq 0
eq "XDG_CONFIG_HOME: the files, system first" "$(grep '^# ' "$T/xdg.out" | cut -d: -f1)" \
	"$(printf '# /etc/hio/hio.conf\n# %s' "$T/xdg/hio/hio.conf")"
check "XDG_CONFIG_HOME: its file's pes" grep -q "^\[up\] pes = 7	# $T/xdg/hio/hio.conf:2\b" "$T/xdg.out"
user_conf >"$T/home.out"
check "no XDG_CONFIG_HOME: ~/.config/hio/hio.conf" \
	grep -q "^\[up\] pes = 5	# $T/home/.config/hio/hio.conf:3\b" "$T/home.out"
user_conf XDG_CONFIG_HOME=relative/dir >"$T/home.out"
check "a relative XDG_CONFIG_HOME is ignored" \
	grep -q "^\[up\] pes = 5	# $T/home/.config/hio/hio.conf:3\b" "$T/home.out"
user_conf XDG_CONFIG_HOME="$T/nothing-here" >"$T/none.out"
check "a missing user file is fine" grep -qx "# $T/nothing-here/hio/hio.conf: not found" "$T/none.out"

# --- bad files: one exact line, the exit status, nothing started
# bad NAME WANT_RC WANT_LINE [hio up options]: hio up with $CONF as it is now.
bad() {
	local what=$1 want_rc=$2 want=$3 rc
	shift 3
	hioc up "$@" >/dev/null 2>"$T/bad.err"
	rc=$?
	eq "$what: exit status" "$rc" "$want_rc"
	eq "$what: the error" "$(cat "$T/bad.err")" "$want"
	eq "$what: no daemon started" "$(daemons)" 0
	check "$what: no master.pid" test ! -e "$STATE/master.pid"
}
printf 'state-dir = %s\n[up]\npez = 3\n' "$STATE" >"$CONF"
bad "unknown key" 2 "hio: $CONF:3: unknown key 'pez' for hio up"
printf 'state-dir = %s\n[up]\npes =\n' "$STATE" >"$CONF"
bad "no value" 2 "hio: $CONF:3: 'pes' wants a value"
printf 'state-dir = %s\n[up]\npes = 5x\n' "$STATE" >"$CONF"
bad "a bad value: the flag's error, from the file" 1 \
	"hio: --pes (from $CONF:3): '5x' is not a whole number from 0 to 1000"
printf 'state-dir = %s\n[up]\nspool-max = 5Q\n' "$STATE" >"$CONF"
bad "a bad size: checked before anything starts" 1 \
	"hio: --spool-max (from $CONF:3): '5Q' is not a size: a whole number of bytes from 1, optionally with K, M, G or T (e.g. 512M, 10G)"
printf 'state-dir = %s\n[upp]\n' "$STATE" >"$CONF"
bad "unknown section" 2 \
	"hio: $CONF:2: unknown section '[upp]' (a section is a hio command that takes options)"
printf 'state-dir = %s\n[results]\nolder-than = 30d\n' "$STATE" >"$CONF"
bad "an option only the command line gives" 2 \
	"hio: $CONF:3: hio results takes 'older-than' from the command line only"
printf 'state-dir = %s\njson = yes\n' "$STATE" >"$CONF"
bad "a flag's value" 2 "hio: $CONF:2: 'json' takes true or false"
printf 'state-dir = %s\n[up]\nexec = "sh x.sh\n' "$STATE" >"$CONF"
bad "an unclosed quote" 2 "hio: $CONF:3: 'exec': the value's closing quote must end the line"
printf 'state-dir = %s\n[up]\n%s\n' "$STATE" "$(head -c 4097 /dev/zero | tr '\0' '#')" >"$CONF"
bad "a line over 4096 bytes" 2 "hio: $CONF:3: line longer than 4096 bytes"
{ printf 'state-dir = %s\n' "$STATE"; yes '# comment' | head -n 1000; } >"$CONF"
bad "more than 1000 lines" 2 "hio: $CONF:1001: more than 1000 lines"
CONF="$T/missing.conf" bad "a missing file HIO_CONFIG names" 2 \
	"hio: cannot read $T/missing.conf: No such file or directory"
CONF="$T" bad "an unreadable file" 2 "hio: cannot read $T: Is a directory"
finish
