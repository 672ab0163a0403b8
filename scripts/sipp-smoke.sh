#!/usr/bin/env bash
# sipp-smoke.sh: real SIP peers through the real binary. Builds xbridge, starts
# it on free 127.0.0.1 ports with a temporary data directory, provisions AXB
# bindings over the HTTP API, runs SIPp as the trunk (testdata/sipp/uas.xml,
# echoing RTP) and as the carrier (testdata/sipp/uac.xml, streaming RTP), and
# fails unless every call was answered and released on both sides, no call
# failed, and RTP crossed the relay in both directions on every call.
#
# Usage: scripts/sipp-smoke.sh            (500 calls at 50 calls/s, 1 s hold)
#   SMOKE_CALLS, SMOKE_RATE, SMOKE_HOLD_MS override; KEEP=1 keeps the logs.
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
calls=${SMOKE_CALLS:-500}
rate=${SMOKE_RATE:-50}
hold_ms=${SMOKE_HOLD_MS:-1000}
bindings=20

# shellcheck source=scripts/sipp-lib.sh
source "$root/scripts/sipp-lib.sh"

command -v sipp >/dev/null || die "sipp not found (Debian package sip-tester)"
command -v jq >/dev/null || die "jq not found"
command -v curl >/dev/null || die "curl not found"

scratch smoke keep-on-failure

# The privacy checks must be able to fail: one call straight from the
# carrier UAC to the trunk UAS (no engine in between) dialling B's number
# shows A to the trunk and B to the carrier, so uas.xml and uac.xml must
# each fail it with "regexp matched but should not".
selfcheck() {
	local dir="$tmp/selfcheck" base rc
	mkdir -p "$dir"
	stage_media "$dir"
	printf 'SEQUENTIAL\n13800000001;13900000001;\n' >"$dir/calls.csv"
	# UAS SIP at base; SIPp binds -mp and -mp+2: UAS media base+2, UAC
	# media base+6; the UAC's SIP port is the kernel's choice.
	free_ports 10
	base=$port_base
	(cd "$dir" && exec sipp -sf "$root/testdata/sipp/uas.xml" "${sipp_flags[@]}" \
		-p "$base" -mp "$((base + 2))" -m 1 -timeout 20s -recv_timeout 10s \
		-stf uas_stat.csv -screen_file uas_screen.log -error_file uas_errors.log >uas.out 2>&1) &
	local uas=$!
	started_pids+=("$uas")
	wait_listening "$base"
	(cd "$dir" && exec sipp "127.0.0.1:$base" -sf "$root/testdata/sipp/uac.xml" "${sipp_flags[@]}" \
		-inf calls.csv -set rtp 0 -mp "$((base + 6))" -m 1 -d 0 \
		-timeout 15s -recv_timeout 5s \
		-stf uac_stat.csv -screen_file uac_screen.log -error_file uac_errors.log >uac.out 2>&1) || true
	wait "$uas" && rc=0 || rc=$?
	[[ $rc -ne 0 && "$(sipp_stat "$dir/uas_stat.csv" 'FailedRegexpShouldntMatch(C)')" == 1 ]] ||
		die "self-check: uas.xml did not fail a call that shows A's number to the trunk (sipp exit $rc)"
	[[ "$(sipp_stat "$dir/uac_stat.csv" 'FailedRegexpShouldntMatch(C)')" == 1 ]] ||
		die "self-check: uac.xml did not fail a call that shows B's number to the carrier"
}
port_plan_selfcheck
selfcheck

build_xbridge
# info level: the per-call "call ended" line carries the relay's counters.
start_xbridge info 20000-29999
provision "$bindings"

mkdir -p "$tmp/uas" "$tmp/uac"
stage_media "$tmp/uac"
# SIPp binds -mp and -mp+2 (audio and video): UAS at media, UAC at media+4.
# They come from the same reserved fixed range as the engine's and the
# trunk's ports, so none can be handed out twice (see the port plan).
free_ports 8
media=$port_base

# Every bound is explicit: SIPp's own -timeout ends each peer, and the
# calls' expected length plus a margin bounds the whole run.
budget=$((calls / rate + hold_ms / 1000 + 30))

(cd "$tmp/uas" && exec sipp -sf "$root/testdata/sipp/uas.xml" "${sipp_flags[@]}" \
	-p "$trunk_port" -mp "$media" -rtp_echo \
	-m "$calls" -timeout "$((budget + 10))s" -timeout_error -recv_timeout 20s \
	-stf uas_stat.csv -screen_file uas_screen.log -error_file uas_errors.log \
	>uas.out 2>&1) &
uas_pid=$!
started_pids+=("$uas_pid")
wait_listening "$trunk_port"

set +e
(cd "$tmp/uac" && exec sipp "127.0.0.1:$sip_port" -sf "$root/testdata/sipp/uac.xml" "${sipp_flags[@]}" \
	-inf "$tmp/calls.csv" -set rtp 1 -mp "$((media + 4))" \
	-m "$calls" -r "$rate" -d "$hold_ms" -timeout "${budget}s" -timeout_error -recv_timeout 10s \
	-stf uac_stat.csv -screen_file uac_screen.log -error_file uac_errors.log \
	>uac.out 2>&1)
uac_rc=$?
wait "$uas_pid"
uas_rc=$?
set -e

fails=()
check_side() {
	local side=$1 rc=$2 dir="$tmp/$1" csv ok failed
	csv="$dir/${side}_stat.csv"
	[[ $rc -eq 0 ]] || fails+=("$side: sipp exit code $rc")
	if [[ ! -s "$csv" ]]; then
		fails+=("$side: no statistics file")
		return
	fi
	ok=$(sipp_stat "$csv" 'SuccessfulCall(C)')
	failed=$(sipp_stat "$csv" 'FailedCall(C)')
	printf -v "${side}_ok" '%s' "$ok"
	printf -v "${side}_failed" '%s' "$failed"
	[[ "$ok" -eq "$calls" ]] || fails+=("$side: $ok of $calls calls completed")
	[[ "$failed" -eq 0 ]] || fails+=("$side: $failed calls failed")
}
uac_ok=0 uac_failed='?' uas_ok=0 uas_failed='?'
check_side uac "$uac_rc"
check_side uas "$uas_rc"

# RTP through the relay: the engine's per-call summary counts what it
# forwarded each way. Every call must have carried RTP both ways.
# Field names are matched loosely (rtp_packets or RTPPackets) so a renamed
# JSON tag does not hide or fake a result: a summary without two directions
# of RTP counters counts as a call without media.
per_call='select(.message == "call ended")
	| [.media // {} | .[] | objects | to_entries[] | select(.key | test("^rtp_?packets$"; "i")) | .value]'
ended=$(grep -c '"message":"call ended"' "$tmp/xbridge.log" || true)
with_media=$(jq -Rc "fromjson? | $per_call | select(length == 2 and all(. > 0))" "$tmp/xbridge.log" | wc -l)
pkts=$(jq -Rn "[inputs | fromjson? | $per_call | add // 0] | add // 0" "$tmp/xbridge.log")
[[ "$ended" -eq "$calls" ]] || fails+=("xbridge: $ended of $calls calls logged as ended")
[[ "$with_media" -eq "$calls" ]] || fails+=("xbridge: $with_media of $calls calls relayed RTP both ways")

if ! kill -0 "$xbridge_pid" 2>/dev/null; then
	fails+=("xbridge exited during the run")
else
	# Every call released: no call left and every relay port back in the
	# pool (the engine's own view, GET /v1/status). BYEs are answered
	# before the call is forgotten, so allow a moment.
	idle=''
	for _ in $(seq 50); do
		idle=$(curl -fsS "$api/v1/status" | jq -c '{active_calls, relay_ports_in_use}') || true
		[[ "$idle" == '{"active_calls":0,"relay_ports_in_use":0}' ]] && break
		sleep 0.1
	done
	[[ "$idle" == '{"active_calls":0,"relay_ports_in_use":0}' ]] || fails+=("xbridge not idle after the run: $idle")
fi

summary="sipp-smoke: $calls calls at $rate/s, hold ${hold_ms} ms: UAC $uac_ok ok / $uac_failed failed, UAS $uas_ok ok / $uas_failed failed, RTP relayed on $with_media calls ($pkts packets), engine idle after: ${idle:-unknown}"
if ((${#fails[@]})); then
	echo "$summary" >&2
	printf 'FAIL: %s\n' "${fails[@]}" >&2
	for f in "$tmp"/uac/uac_errors.log "$tmp"/uas/uas_errors.log; do
		[[ -s "$f" ]] && { echo "--- $f (first lines)" >&2; grep -v 'watchdog' "$f" | head -20 >&2; }
	done
	echo "--- xbridge warnings and errors (first lines)" >&2
	grep -E '"level":"(warn|error|fatal|panic)"' "$tmp/xbridge.log" | head -10 >&2 || true
	exit 1
fi
echo "$summary"
