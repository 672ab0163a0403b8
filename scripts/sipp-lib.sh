# shellcheck shell=bash disable=SC2154
# (SC2154: root is set by the script that sources this file.)
# Shared by sipp-smoke.sh, sipp-load.sh, sipp-flood.sh, sipp-axe.sh and sipp-sms.sh (sourced, not run): start xbridge
# on free loopback ports, provision bindings through the API, start SIPp peers
# and read SIPp's statistics. Everything runs on 127.0.0.1 only.
#
# The caller sets root (the repo) and calls scratch once. Every process
# started here is recorded in started_pids; scratch's EXIT trap stops them.

started_pids=()

die() {
	echo "FAIL: $*" >&2
	exit 1
}

# scratch NAME [keep-on-failure]: makes the run's scratch directory, tmp,
# and the EXIT trap that stops everything started and removes tmp, unless
# KEEP is set or, with keep-on-failure, the script exits non-zero (its
# files are then where to look).
scratch() {
	tmp=$(mktemp -d "${TMPDIR:-/tmp}/xbridge-$1.XXXXXX")
	scratch_keep_failed=${2:-}
	trap scratch_cleanup EXIT
}

scratch_cleanup() {
	local rc=$?
	stop_started
	if [[ -n "${KEEP:-}" || -n "$scratch_keep_failed" && $rc -ne 0 ]]; then
		echo "files kept in $tmp" >&2
	else
		rm -rf "$tmp"
	fi
}

# stop_started ends, by process id, everything this script started.
stop_started() {
	local p
	for p in "${started_pids[@]:-}"; do
		[[ -n "$p" ]] || continue
		kill "$p" 2>/dev/null || true
	done
	for p in "${started_pids[@]:-}"; do
		[[ -n "$p" ]] || continue
		# Bounded: a peer that ignores SIGTERM gets SIGKILL after 5 s.
		for _ in $(seq 50); do
			kill -0 "$p" 2>/dev/null || break
			sleep 0.1
		done
		kill -9 "$p" 2>/dev/null || true
	done
	started_pids=()
}

# port_free PORT: nothing listens on PORT, UDP or TCP, on any address.
port_free() {
	[[ -z "$(ss -Hlntu "( sport = :$1 )" 2>/dev/null)" ]]
}

# The port plan. Every port of a run lies in one of four sets that cannot
# meet, so no two sockets of a run can ever want the same port:
#   - the kernel's ephemeral range (net.ipv4.ip_local_port_range): sockets
#     bound to port 0 (a SIPp UAC without -p, curl, outbound TCP) land there;
#   - the engine's relay range (--rtp-ports), which nothing else here binds;
#   - SIPp's control ports, 8888 upwards, its own choice;
#   - the fixed ports, handed out by free_ports from [fixed_lo, fixed_hi]:
#     the engine's SIP and API ports, the trunk UAS's SIP port and every
#     SIPp media port (SIPp cannot be given port 0 for these: -mp 0 means
#     6000, and a UAS without -p takes 5060). free_ports reserves what it
#     hands out, so two blocks of one run never overlap even before either
#     is bound; the check that nothing listens there guards against other
#     processes.
fixed_lo=10000
fixed_hi=19999
declare -A reserved_ports=()

# ranges_overlap LO1 HI1 LO2 HI2
ranges_overlap() { (($1 <= $4 && $3 <= $2)); }

# check_port_plan RELAY_RANGE: dies unless the four sets are disjoint here.
check_port_plan() {
	local lo hi elo ehi
	IFS=- read -r lo hi <<<"$1"
	read -r elo ehi </proc/sys/net/ipv4/ip_local_port_range
	! ranges_overlap "$fixed_lo" "$fixed_hi" "$elo" "$ehi" ||
		die "the kernel's ephemeral ports $elo-$ehi overlap the script's fixed ports $fixed_lo-$fixed_hi"
	! ranges_overlap "$lo" "$hi" "$elo" "$ehi" ||
		die "relay range $1 overlaps the kernel's ephemeral ports $elo-$ehi (see net.ipv4.ip_local_port_range)"
	! ranges_overlap "$lo" "$hi" "$fixed_lo" "$fixed_hi" ||
		die "relay range $1 overlaps the script's fixed ports $fixed_lo-$fixed_hi"
	! ranges_overlap "$lo" "$hi" 8888 8999 || die "relay range $1 overlaps SIPp's control ports 8888-8999"
}

# free_ports N: sets port_base to an even port such that port_base ..
# port_base+N-1 lie in the fixed range, are free, and were not handed out
# before in this run; reserves them. It sets a variable rather than printing
# because a command substitution would lose the reservation with its
# subshell. Random start so that parallel runs (other engineers, CI) rarely
# race for the same ports.
free_ports() {
	local n=$1 base i ok span=$((fixed_hi - fixed_lo + 1 - $1))
	((span >= 0)) || die "no block of $n ports fits in $fixed_lo-$fixed_hi"
	for _ in $(seq 200); do
		base=$((fixed_lo + (RANDOM * 32768 + RANDOM) % (span + 1)))
		base=$((base - (base - fixed_lo) % 2))
		ok=1
		for ((i = 0; i < n; i++)); do
			if [[ -n "${reserved_ports[$((base + i))]:-}" ]] || ! port_free $((base + i)); then
				ok=0
				break
			fi
		done
		if ((ok)); then
			for ((i = 0; i < n; i++)); do reserved_ports[$((base + i))]=1; done
			port_base=$base
			return 0
		fi
	done
	die "no free block of $n ports found in $fixed_lo-$fixed_hi"
}

# port_plan_selfcheck: free_ports must never hand out a port twice in a
# run, even when nothing is bound yet (the trunk port and the SIPp media
# ports once collided that way). In a window of 6 free ports, three blocks
# of 2 must be disjoint and a fourth must be refused. Runs in a subshell:
# the real plan is untouched.
port_plan_selfcheck() (
	local p lo seen=()
	fixed_lo=0
	for lo in $(seq 11000 6 11994); do
		fixed_lo=$lo
		for ((p = lo; p < lo + 6; p++)); do port_free "$p" || fixed_lo=0; done
		((fixed_lo)) && break
	done
	((fixed_lo)) || die "port self-check: no window of 6 free ports in 11000-11999"
	fixed_hi=$((fixed_lo + 5))
	reserved_ports=()
	for _ in 1 2 3; do
		free_ports 2
		seen+=("$port_base" $((port_base + 1)))
	done
	[[ $(printf '%s\n' "${seen[@]}" | sort -u | wc -l) -eq 6 ]] ||
		die "port self-check: free_ports handed out a port twice: ${seen[*]}"
	if (free_ports 2) 2>/dev/null; then
		die "port self-check: free_ports handed out a fourth block of 2 from a window of 6"
	fi
)

# build_xbridge: builds the binary into $tmp/xbridge, or copies the one
# XBRIDGE_BIN names (to measure a given build, or while cmd/ is mid-edit).
build_xbridge() {
	if [[ -n "${XBRIDGE_BIN:-}" ]]; then
		cp "$XBRIDGE_BIN" "$tmp/xbridge" || die "copy XBRIDGE_BIN=$XBRIDGE_BIN"
		return
	fi
	(cd "$root" && go build -o "$tmp/xbridge" ./cmd/xbridge) || die "go build ./cmd/xbridge"
}

# start_xbridge LOG_LEVEL RTP_RANGE [FLAG...]: starts the engine with a
# fresh data dir on fixed ports (see the port plan), and any further flags,
# and waits (bounded) for /healthz. Sets sip_port, api_port, trunk_port (for
# the UAS the engine sends B legs to), api.
start_xbridge() {
	local level=$1 rtp=$2
	shift 2
	check_port_plan "$rtp"
	free_ports 3
	sip_port=$port_base
	api_port=$((port_base + 1))
	trunk_port=$((port_base + 2))
	api="http://127.0.0.1:$api_port"
	"$tmp/xbridge" serve \
		--data "$tmp/data" \
		--sip "127.0.0.1:$sip_port" \
		--api "127.0.0.1:$api_port" \
		--trunk "127.0.0.1:$trunk_port" \
		--trunk-transport udp \
		--rtp-ports "$rtp" \
		--media-ip 127.0.0.1 \
		--log-format json \
		--log-level "$level" \
		--default-country CN \
		--answer-timeout 10s \
		"$@" \
		>"$tmp/xbridge.log" 2>&1 &
	xbridge_pid=$!
	started_pids+=("$xbridge_pid")
	for _ in $(seq 100); do
		kill -0 "$xbridge_pid" 2>/dev/null || {
			tail -20 "$tmp/xbridge.log" >&2
			die "xbridge exited during start"
		}
		if curl -fsS --max-time 1 "$api/healthz" >/dev/null 2>&1; then
			return 0
		fi
		sleep 0.1
	done
	tail -20 "$tmp/xbridge.log" >&2
	die "xbridge /healthz not ready within 10 s"
}

# api_post PATH JSON: POSTs JSON to the engine's API, prints the body, fails
# on a non-2xx answer.
api_post() {
	curl -fsS --max-time 5 -H 'Content-Type: application/json' -X POST -d "$2" "$api$1" ||
		die "POST $1 $2 refused"
}

# provision N: a pool "sipp" of ceil(N/4) middle numbers X (17000000xxx) and N
# AXB bindings A=138000xxxxx, B=139000xxxxx on it. Writes the UAC injection
# file $tmp/calls.csv: one "A;X;" line per binding (SIPp reads it in turn).
# Callers A all start 138000: uas.xml fails any B-leg INVITE carrying one.
provision() {
	local n=$1 nx i numbers x body
	nx=$(((n + 3) / 4))
	numbers=$(for ((i = 1; i <= nx; i++)); do printf '"17000%06d",' "$i"; done)
	api_post /v1/pools/sipp/numbers "{\"numbers\":[${numbers%,}]}" >/dev/null
	echo SEQUENTIAL >"$tmp/calls.csv"
	for ((i = 1; i <= n; i++)); do
		body=$(api_post /v1/bindings \
			"$(printf '{"a":"138000%05d","b":"139000%05d","pool":"sipp","ttl_seconds":7200}' "$i" "$i")")
		x=$(jq -er .x <<<"$body") || die "binding without x: $body"
		printf '138000%05d;%s;\n' "$i" "$x" >>"$tmp/calls.csv"
	done
}

# stage_media DIR: uac.xml names its RTP file relative to the working
# directory (testdata/sipp/pcmu-silence.raw, as from the repository root)
# and SIPp loads it even when no RTP is sent: give DIR that path.
stage_media() {
	mkdir -p "$1/testdata/sipp"
	cp "$root/testdata/sipp/pcmu-silence.raw" "$1/testdata/sipp/"
}

# wait_listening PORT: bounded wait until a UDP socket is bound on PORT.
wait_listening() {
	for _ in $(seq 100); do
		[[ -n "$(ss -Hlnu "( sport = :$1 )" 2>/dev/null)" ]] && return 0
		sleep 0.05
	done
	die "nothing listens on udp port $1 after 5 s"
}

# sipp_stat CSV COLUMN: the last (cumulative, final) value of COLUMN in a
# SIPp -trace_stat file, e.g. sipp_stat f.csv 'SuccessfulCall(C)'.
sipp_stat() {
	awk -F';' -v col="$2" '
		NR == 1 { for (i = 1; i <= NF; i++) if ($i == col) c = i; next }
		{ last = $c }
		END { if (!c) exit 1; print last }' "$1"
}

# sipp_flags: options every SIPp run here shares. Socket buffers of 4 MiB
# (the default rmem_max) ride out a SIPp descheduled for a moment. A noisy shared machine
# trips SIPp's scheduler watchdog; it is reported, not fatal.
# shellcheck disable=SC2034 # used by the sourcing scripts
sipp_flags=(-i 127.0.0.1 -mi 127.0.0.1 -nostdin -trace_err -trace_stat -fd 1 -buff_size 4194304
	-trace_screen -watchdog_minor_maxtriggers 100000 -watchdog_major_maxtriggers 1000)
