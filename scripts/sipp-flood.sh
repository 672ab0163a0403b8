#!/usr/bin/env bash
# sipp-flood.sh: does the engine keep serving when offered several times
# what it can take? Everything runs on this machine over 127.0.0.1: SIPp UAC
# (carrier) -> xbridge -> SIPp UAS (trunk), one engine for all three phases:
#
#   1. clean     FLOOD_RATE calls/s for FLOOD_SECONDS: the rate to compare
#                with; it must complete with < 0.1% failed calls.
#   2. flood     FLOOD_FACTOR x FLOOD_RATE calls/s for FLOOD_SECONDS, from
#                ceil(rate / FLOOD_UAC_MAX) SIPp UACs (one SIPp tops out
#                around 1,000 calls/s): completed calls vs 503s vs failures,
#                and goodput, the completed calls per second.
#   3. recovery  the clean phase again, then GET /v1/status must show no
#                call and no relay port held.
#
# The engine's resident memory (VmRSS) is sampled every 0.5 s: before the
# flood, its peak during the flood, after recovery, and once more after
# FLOOD_SETTLE seconds of quiet. The last line is a summary to paste.
# The run passes when clean and recovery complete (< 0.1% failed calls),
# goodput is at least 90% of the clean rate, and the engine ends idle.
#
# Settings (environment):
#   FLOOD_RATE      clean calls/s, default 1200 (the engine's default --max-cps,
#                   the rate docs/PERFORMANCE.md measured it to complete)
#   FLOOD_FACTOR    flood multiple of FLOOD_RATE, default 4
#   FLOOD_SECONDS   length of each phase, default 10
#   FLOOD_UAC_MAX   calls/s per SIPp UAC process, default 1000
#   FLOOD_HOLD_MS   hold between ACK and BYE, default 0
#   FLOOD_SETTLE    seconds of quiet before the last memory sample, default 10
#   FLOOD_RTP_PORTS the engine's relay range, default 28200-32199: above every
#                   port sipp-lib's free_ports hands out for SIP and SIPp
#                   media (10000-28100 at most) and below the kernel's
#                   ephemeral range, so no SIPp socket can take a relay port
#                   or the reverse
#   FLOOD_LOG       engine --log-level, default warn
#   XBRIDGE_MAX_CALLS, XBRIDGE_MAX_CPS, XBRIDGE_MAX_CPS_PER_SOURCE
#                   the engine's limits, read by xbridge itself (default: its
#                   own defaults; see README "Trust and overload")
#   XBRIDGE_BIN     measure this binary instead of building ./cmd/xbridge
#   KEEP=1          keep the scratch directory
#
# Every process runs with a bound (SIPp -timeout, bounded waits); the whole
# run takes about 3 x FLOOD_SECONDS + FLOOD_SETTLE + a minute at most.
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
rate=${FLOOD_RATE:-1200}
factor=${FLOOD_FACTOR:-4}
secs=${FLOOD_SECONDS:-10}
uac_max=${FLOOD_UAC_MAX:-1000}
hold_ms=${FLOOD_HOLD_MS:-0}
settle=${FLOOD_SETTLE:-10}
rtp_ports=${FLOOD_RTP_PORTS:-28200-32199}
level=${FLOOD_LOG:-warn}
bindings=200

# shellcheck source=scripts/sipp-lib.sh
source "$root/scripts/sipp-lib.sh"

for n in rate factor secs uac_max; do
	[[ "${!n}" =~ ^[1-9][0-9]*$ ]] || die "FLOOD_${n^^} must be a positive whole number, got ${!n}"
done
[[ "$hold_ms" =~ ^[0-9]+$ && "$settle" =~ ^[0-9]+$ ]] || die "FLOOD_HOLD_MS and FLOOD_SETTLE must be whole numbers"
[[ "$rtp_ports" =~ ^([0-9]+)-([0-9]+)$ ]] || die "FLOOD_RTP_PORTS must be LOW-HIGH, got $rtp_ports"
command -v sipp >/dev/null || die "sipp not found (Debian package sip-tester)"
command -v jq >/dev/null || die "jq not found"
command -v curl >/dev/null || die "curl not found"

scratch flood
ulimit -n 65536 2>/dev/null || ulimit -n "$(ulimit -Hn)" 2>/dev/null || true

build_xbridge
start_xbridge "$level" "$rtp_ports"
provision "$bindings"

# take_ports N: sets port_block to the first of N free ports. sipp-lib's
# free_ports either sets port_base and reserves the block for the run, or
# (older trees) prints the base; a plain call, not a command substitution,
# keeps the reservation.
take_ports() {
	port_base=''
	free_ports "$1" >"$tmp/free_ports.out"
	port_block=${port_base:-$(cat "$tmp/free_ports.out")}
	[[ "$port_block" =~ ^[0-9]+$ ]] || die "free_ports gave no port"
}

rss_kib() { awk '$1 == "VmRSS:" { print $2 }' "/proc/$xbridge_pid/status" 2>/dev/null || echo 0; }
mib() { awk -v k="$1" 'BEGIN { printf "%.0f", k / 1024 }'; }

# status: what the engine holds and has refused so far.
status() { curl -fsS --max-time 2 "$api/v1/status" 2>/dev/null || echo '{}'; }

# column CSV SUFFIX: the last value of the first column of a SIPp
# -trace_counts file whose name ends in SUFFIX (e.g. _503_Recv).
column() {
	awk -F';' -v suf="$2" '
		NR == 1 { for (i = 1; i <= NF; i++) if (substr($i, length($i) - length(suf) + 1) == suf) { c = i; break }; next }
		{ last = $c }
		END { print (c ? last + 0 : 0) }' "$1"
}

# last_column CSV SUFFIX: as column, the last column with that suffix (the
# BYE's 200, where the INVITE's 200 comes first).
last_column() {
	awk -F';' -v suf="$2" '
		NR == 1 { for (i = 1; i <= NF; i++) if (substr($i, length($i) - length(suf) + 1) == suf) c = i; next }
		{ last = $c }
		END { print (c ? last + 0 : 0) }' "$1"
}

# answered_rate RTT...: calls answered per second, all UACs together, from
# the first answer to the last (-trace_rtt writes one line per answered call,
# Date_ms counted from each SIPp's start; the UACs start within milliseconds
# of each other).
answered_rate() {
	awk -F';' 'FNR > 1 && $1 != "" { n++; if (first == "" || $1 < first) first = $1; if ($1 > last) last = $1 }
		END { if (n > 1 && last > first) printf "%.0f\n", (n - 1) * 1000 / (last - first); else print 0 }' "$@"
}

# phase NAME RATE: one step of calls at RATE for $secs seconds through a fresh
# UAS. Sets offered, completed, refused, failed, answered_cps, uas_failed.
phase() {
	local name=$1 prate=$2 dir="$tmp/$1" uacs per_uac per_rate media u p f
	mkdir -p "$dir"
	stage_media "$dir"
	offered=$((prate * secs))
	uacs=$(((prate + uac_max - 1) / uac_max))
	per_uac=$((offered / uacs))
	per_rate=$((prate / uacs))
	offered=$((per_uac * uacs))
	# One block of free ports for the step: SIPp binds -mp and -mp+2 (audio
	# and video) for each process, then each UAC's SIP port. The trunk port
	# is not bound between steps, so free_ports could hand it out: skip a
	# block holding it.
	local n=$((4 + 4 * uacs + uacs)) block=''
	for _ in $(seq 20); do
		take_ports "$n"
		block=$port_block
		((trunk_port < block || trunk_port >= block + n)) && break
		block=''
	done
	[[ -n "$block" ]] || die "no block of $n free ports clear of the trunk port"
	media=$block

	(cd "$dir" && exec sipp -sf "$root/testdata/sipp/uas.xml" "${sipp_flags[@]}" \
		-p "$trunk_port" -mp "$media" -m "$offered" -timeout "$((secs * 3 + 30))s" -recv_timeout 10s \
		-max_recv_loops 10000 -max_sched_loops 10000 -l 15000 \
		-stf uas_stat.csv -screen_file uas_screen.log -error_file uas_errors.log >uas.out 2>&1) &
	local uas_pid=$!
	started_pids+=("$uas_pid")
	wait_listening "$trunk_port"

	local uac_pids=()
	for ((u = 0; u < uacs; u++)); do
		(cd "$dir" && exec sipp "127.0.0.1:$sip_port" -sf "$root/testdata/sipp/uac-flood.xml" "${sipp_flags[@]}" \
			-inf "$tmp/calls.csv" -p "$((media + 4 + 4 * uacs + u))" -mp "$((media + 4 + 4 * u))" \
			-m "$per_uac" -r "$per_rate" -d "$hold_ms" -l 15000 \
			-timeout "$((secs * 3 + 20))s" -timeout_error -recv_timeout 10s \
			-max_recv_loops 10000 -max_sched_loops 10000 \
			-trace_rtt -rtt_freq 1 -trace_counts \
			-stf "uac${u}_stat.csv" -screen_file "uac${u}_screen.log" -error_file "uac${u}_errors.log" \
			>"uac$u.out" 2>&1) &
		uac_pids+=($!)
		started_pids+=($!)
	done
	for p in "${uac_pids[@]}"; do wait "$p" || true; done
	# The UAS ends after its -m calls, which it never gets when calls are
	# refused: give the last BYEs a moment, then stop it.
	for _ in $(seq 30); do
		kill -0 "$uas_pid" 2>/dev/null || break
		sleep 0.1
	done
	kill "$uas_pid" 2>/dev/null || true
	wait "$uas_pid" 2>/dev/null || true

	completed=0 refused=0 failed=0
	for f in "$dir"/*_counts.csv; do
		[[ -s "$f" ]] || continue
		completed=$((completed + $(last_column "$f" _200_Recv)))
		refused=$((refused + $(column "$f" _503_Recv)))
	done
	for ((u = 0; u < uacs; u++)); do
		f="$dir/uac${u}_stat.csv"
		[[ -s "$f" ]] && failed=$((failed + $(sipp_stat "$f" 'FailedCall(C)')))
	done
	# Calls never placed (SIPp could not keep up, or ran out of time) failed too.
	local missing=$((offered - completed - refused - failed))
	((missing > 0)) && failed=$((failed + missing))
	answered_cps=$(answered_rate "$dir"/*_rtt.csv 2>/dev/null || echo 0)
	uas_failed=$(sipp_stat "$dir/uas_stat.csv" 'FailedCall(C)' 2>/dev/null || echo '?')
	printf '%-9s offered %6s/s %7s calls: %7s completed %7s refused(503) %6s failed (uas %s); answered %s calls/s\n' \
		"$name" "$prate" "$offered" "$completed" "$refused" "$failed" "$uas_failed" "$answered_cps"
}

clean_ok() { awk -v f="$1" -v n="$2" 'BEGIN { exit !(f * 1000 < n) }'; }

printf '# %s sipp-flood rate=%s factor=%s phase=%ss hold=%sms cores=%s load=%s limits: %s\n' \
	"$(date -u +%Y-%m-%dT%H:%M:%SZ)" "$rate" "$factor" "$secs" "$hold_ms" "$(nproc)" \
	"$(cut -d' ' -f1-3 /proc/loadavg)" \
	"max-calls=${XBRIDGE_MAX_CALLS:-default} max-cps=${XBRIDGE_MAX_CPS:-default} max-cps-per-source=${XBRIDGE_MAX_CPS_PER_SOURCE:-default}"

verdict=pass
why=()

phase clean "$rate"
clean_cps=$answered_cps clean_failed=$failed clean_offered=$offered
clean_ok "$clean_failed" "$clean_offered" || {
	verdict=fail
	why+=("clean phase: $clean_failed of $clean_offered failed")
}
rss_before=$(rss_kib)
refused_total() { status | jq '(.admission // {}) | [.refused_calls, .refused_rate, .refused_source] | add // 0'; }
stateless_total() { status | jq '.admission.stateless // 0'; }
refused_before=$(refused_total)
stateless_before=$(stateless_total)

# Memory during the flood: sampled by a bounded background loop.
(for _ in $(seq $(((secs * 3 + 30) * 2))); do rss_kib; sleep 0.5; done >"$tmp/rss.txt") &
rss_pid=$!
started_pids+=("$rss_pid")
phase flood "$((rate * factor))"
kill "$rss_pid" 2>/dev/null || true
wait "$rss_pid" 2>/dev/null || true
flood_cps=$answered_cps flood_completed=$completed flood_refused=$refused flood_failed=$failed
rss_peak=$(sort -n "$tmp/rss.txt" | tail -1)
engine_refused=$(($(refused_total) - refused_before))
engine_stateless=$(($(stateless_total) - stateless_before))
goodput_pct=$(awk -v g="$flood_cps" -v c="$clean_cps" 'BEGIN { if (c > 0) printf "%.0f", 100 * g / c; else print 0 }')
((goodput_pct >= 90)) || {
	verdict=fail
	why+=("goodput $flood_cps calls/s is $goodput_pct% of the clean $clean_cps")
}

phase recovery "$rate"
rec_cps=$answered_cps rec_failed=$failed rec_offered=$offered
clean_ok "$rec_failed" "$rec_offered" || {
	verdict=fail
	why+=("recovery: $rec_failed of $rec_offered failed")
}
rss_after=$(rss_kib)

# Idle: calls whose ACK was lost hold their ports for 64*T1 (32 s).
idle=''
for _ in $(seq 40); do
	idle=$(status | jq -c '{active_calls, relay_ports_in_use}')
	[[ "$idle" == '{"active_calls":0,"relay_ports_in_use":0}' ]] && break
	sleep 1
done
[[ "$idle" == '{"active_calls":0,"relay_ports_in_use":0}' ]] || {
	verdict=fail
	why+=("engine not idle: $idle")
}
kill -0 "$xbridge_pid" 2>/dev/null || {
	verdict=fail
	why+=("engine exited")
}
sleep "$settle"
rss_settled=$(rss_kib)
warns=$(grep -c '"level":"\(warn\|error\)"' "$tmp/xbridge.log" || true)
overload=$(grep -c '"message":"call refused: overload"' "$tmp/xbridge.log" || true)

echo "engine log: $warns warn/error lines, $overload of them 'call refused: overload' (sampled: one a second)"
grep '"level":"\(warn\|error\)"' "$tmp/xbridge.log" | grep -v 'call refused: overload' | cut -c1-300 | head -5 || true
((${#why[@]})) && printf 'FAIL: %s\n' "${why[@]}"
printf 'sipp-flood: clean %s/s -> %s calls/s (%s of %s failed); flood %sx = %s/s for %ss -> goodput %s calls/s (%s%% of clean), %s completed, %s refused 503 (engine counted %s, %s of them stateless), %s failed; recovery %s calls/s (%s of %s failed); rss MiB before %s, flood peak %s, after %s, after %ss quiet %s; engine after: %s; %s\n' \
	"$rate" "$clean_cps" "$clean_failed" "$clean_offered" "$factor" "$((rate * factor))" "$secs" \
	"$flood_cps" "$goodput_pct" "$flood_completed" "$flood_refused" "$engine_refused" "$engine_stateless" "$flood_failed" \
	"$rec_cps" "$rec_failed" "$rec_offered" \
	"$(mib "$rss_before")" "$(mib "${rss_peak:-0}")" "$(mib "$rss_after")" "$settle" "$(mib "$rss_settled")" \
	"$idle" "$verdict"
[[ "$verdict" == pass ]]
