# shellcheck shell=bash disable=SC2154
# (SC2154: tmp and root are set by the script that sources this file.)
# Shared by sipp-smoke.sh and sipp-load.sh (sourced, not run): start xbridge
# on free loopback ports, provision bindings through the API, start SIPp peers
# and read SIPp's statistics. Everything runs on 127.0.0.1 only.
#
# The caller sets: tmp (a scratch directory it removes), root (the repo).
# Every process started here is recorded in started_pids; call stop_started
# from the caller's EXIT trap.

started_pids=()

die() {
	echo "FAIL: $*" >&2
	exit 1
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

# free_ports N STEP: prints a base port below the kernel's ephemeral range
# such that base, base+1, ..., base+N-1 are all free. Random start so that
# parallel runs (other engineers, CI) rarely race for the same ports.
free_ports() {
	local n=$1 base i ok
	for _ in $(seq 200); do
		base=$((10000 + (RANDOM % 9000) * 2))
		ok=1
		for ((i = 0; i < n; i++)); do
			port_free $((base + i)) || {
				ok=0
				break
			}
		done
		if ((ok)); then
			echo "$base"
			return 0
		fi
	done
	die "no free block of $n ports found"
}

# build_xbridge: builds the binary into $tmp/xbridge, or copies the one
# XBRIDGE_BIN names (to measure a given build, or while cmd/ is mid-edit).
build_xbridge() {
	if [[ -n "${XBRIDGE_BIN:-}" ]]; then
		cp "$XBRIDGE_BIN" "$tmp/xbridge" || die "copy XBRIDGE_BIN=$XBRIDGE_BIN"
		return
	fi
	(cd "$root" && go build -o "$tmp/xbridge" ./cmd/xbridge) || die "go build ./cmd/xbridge"
}

# start_xbridge LOG_LEVEL RTP_RANGE: starts the engine with a fresh data dir
# on free ports and waits (bounded) for /healthz. Sets sip_port, api_port,
# trunk_port, api.
start_xbridge() {
	local level=$1 rtp=$2 base
	base=$(free_ports 3)
	sip_port=$base
	api_port=$((base + 1))
	trunk_port=$((base + 2))
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
