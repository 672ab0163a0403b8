#!/usr/bin/env bash
# sipp-load.sh: how many calls/s the engine carries, and how fast it answers.
# Everything runs on this machine over 127.0.0.1: SIPp UAC (carrier) ->
# xbridge -> SIPp UAS (trunk), or, with LOAD_TARGET=direct, SIPp UAC -> SIPp
# UAS with no engine between (the scale of the load generator itself).
#
# For each rate in LOAD_RATES it starts a fresh UAS (and UAC processes) and
# places rate*LOAD_SECONDS calls, bounded by SIPp's -m and -timeout. It prints
# one line per step: offered and achieved rate, successful and failed calls
# on both sides, retransmissions, INVITE->200 median/p99/max (every call's
# response time 1 from -trace_rtt) and the engine's CPU time per call. The
# ramp stops at the first step with >= 0.1% failed calls or an achieved rate
# below 90% of the offered one. The engine runs once for the whole ramp.
#
# Settings (environment):
#   LOAD_TARGET   engine (default) or direct
#   LOAD_RATES    calls/s steps, default "200 500 1000 1500 2000 2500 3000 3500 4000"
#   LOAD_SECONDS  seconds per step, default 10
#   LOAD_HOLD_MS  hold time between ACK and BYE, default 0
#   LOAD_UACS     SIPp UAC processes sharing each step's rate, default 1
#   LOAD_RTP      1: the UAC streams RTP and the UAS echoes it (default 0:
#                 relay ports are allocated and SDP rewritten, no packets)
#   LOAD_LOG      engine --log-level, default warn
#   LOAD_NOSTOP   1: run every step even after one fails
#   LOAD_PCAP     1: also capture the UAC's SIP on lo with tcpdump and report
#                 INVITE->200 from kernel timestamps (microseconds; SIPp's
#                 own response times tick in 4 ms steps on this kernel)
#   LOAD_RTP_PORTS  the engine's relay port range, default 20000-31999
#   XBRIDGE_BIN   measure this binary instead of building ./cmd/xbridge
#   KEEP=1        keep the scratch directory with all SIPp files
#
# The machine may be shared. The header reports how many UDP ports of the
# relay range were already bound before the engine started (relay_busy) and
# how many SIPp/xbridge processes not started here were running
# (neighbours); each step reports the neighbours seen at its start and end.
# Either one non-zero makes the figures not comparable: relay pairs stay
# bound between calls, so another engine using the same range takes ports
# for good, and its CPU is taken from this run.
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
target=${LOAD_TARGET:-engine}
rates=${LOAD_RATES:-200 500 1000 1500 2000 2500 3000 3500 4000}
step_s=${LOAD_SECONDS:-10}
hold_ms=${LOAD_HOLD_MS:-0}
uacs=${LOAD_UACS:-1}
rtp=${LOAD_RTP:-0}
level=${LOAD_LOG:-warn}
rtp_ports=${LOAD_RTP_PORTS:-20000-31999}
[[ "$rtp_ports" =~ ^([0-9]+)-([0-9]+)$ ]] || { echo "FAIL: LOAD_RTP_PORTS must be LOW-HIGH, got $rtp_ports" >&2; exit 1; }
rtp_lo=${BASH_REMATCH[1]} rtp_hi=${BASH_REMATCH[2]}
bindings=200
# The ramp measures capacity: the engine's admission limits (--max-cps
# 1,200 and --max-calls 2,000 by default) would turn every step above them
# into 503s. Off unless set (xbridge reads XBRIDGE_* from the environment).
export XBRIDGE_MAX_CPS=${XBRIDGE_MAX_CPS:-0} XBRIDGE_MAX_CALLS=${XBRIDGE_MAX_CALLS:-0}

# shellcheck source=scripts/sipp-lib.sh
source "$root/scripts/sipp-lib.sh"

command -v sipp >/dev/null || die "sipp not found (Debian package sip-tester)"
if [[ -n "${LOAD_PCAP:-}" ]]; then
	command -v tcpdump >/dev/null || die "LOAD_PCAP needs tcpdump (Debian package tcpdump)"
fi
[[ "$target" == engine || "$target" == direct ]] || die "LOAD_TARGET must be engine or direct"

scratch load

# relay_busy: UDP ports of the relay range bound by anyone right now.
relay_busy() {
	ss -Hnau 2>/dev/null | awk -v lo="$rtp_lo" -v hi="$rtp_hi" \
		'{ n = split($4, a, ":"); p = a[n] + 0; if (p >= lo && p <= hi) c++ } END { print c + 0 }'
}

# neighbours: SIPp and xbridge processes running that this script did not
# start (another engineer's load test, smoke test or engine).
neighbours() {
	local p q mine c=0
	for p in $(pgrep -x 'sipp|xbridge' || true); do
		mine=0
		for q in "${started_pids[@]:-}"; do
			[[ "$p" == "$q" ]] && mine=1
		done
		((mine)) || c=$((c + 1))
	done
	echo "$c"
}

busy_before=$(relay_busy)

# Enough descriptors for thousands of relay sockets and SIPp's calls.
ulimit -n 65536 2>/dev/null || ulimit -n "$(ulimit -Hn)" 2>/dev/null || true

if [[ "$target" == engine ]]; then
	build_xbridge
	# Relay ports below the kernel's ephemeral range: 6,000 pairs, two per call.
	start_xbridge "$level" "$rtp_ports"
	provision "$bindings"
	uac_dest="127.0.0.1:$sip_port"
else
	# Direct: the UAS listens where a trunk would; same numbers, no engine.
	free_ports 1
	trunk_port=$port_base
	uac_dest="127.0.0.1:$trunk_port"
	echo SEQUENTIAL >"$tmp/calls.csv"
	for ((i = 1; i <= bindings; i++)); do
		printf '138000%05d;8617000%06d;\n' "$i" "$(((i + 3) / 4))" >>"$tmp/calls.csv"
	done
fi

# The direct UAS sees A's number in the INVITE (no engine hides it), so the
# privacy check of uas.xml is turned off there by a copy without it.
uas_xml="$root/testdata/sipp/uas.xml"
if [[ "$target" == direct ]]; then
	sed -e '/assign_to="leak"/d' -e 's/variables="leak,shown_x"/variables="shown_x"/' -e 's#sip:\\+?(86)?170\[0-9\]{8}@#sip:#' "$uas_xml" >"$tmp/uas-direct.xml"
	uas_xml="$tmp/uas-direct.xml"
fi

engine_cpu_ticks() {
	[[ "$target" == engine ]] || {
		echo 0
		return
	}
	awk '{ print $14 + $15 }' "/proc/$xbridge_pid/stat"
}
clk_tck=$(getconf CLK_TCK)

# udp_rcvbuf_errors: datagrams the kernel dropped, machine-wide, because a
# socket's receive buffer was full (engine and SIPp alike).
udp_rcvbuf_errors() {
	awk '$1 == "Udp:" && $2 ~ /^[0-9]+$/ { print $6 }' /proc/net/snmp
}

# failure_reasons CSV: the non-zero Failed*(C) counters of a -trace_stat file.
failure_reasons() {
	awk -F';' 'NR == 1 { for (i = 1; i <= NF; i++) h[i] = $i; next } { for (i = 1; i <= NF; i++) v[i] = $i }
		END { for (i in h) if (h[i] ~ /^Failed.+\(C\)$/ && v[i] + 0 > 0) printf "%s=%s ", h[i], v[i]; print "" }' "$1"
}

# SIPp -trace_rtt files: "Date_ms;response_time_ms;rtd_no" after a header,
# one line per call, Date_ms counted from the SIPp process start, response
# times in whole milliseconds (SIPp's clock tick).

# quantiles: median, p99 and max of the numbers on stdin, one per line.
quantiles() {
	sort -g | awk '{ v[NR] = $1 } END {
		if (NR == 0) { print "- - -"; exit }
		p = int(NR * 0.99); if (p < NR * 0.99) p++
		printf "%.2f %.2f %.2f\n", v[int((NR + 1) / 2)], v[p], v[NR] }'
}

# percentiles FILE...: quantiles of SIPp's response time 1 over all files.
percentiles() {
	awk -F';' 'FNR > 1 && $2 != "" { print $2 }' "$@" | quantiles
}

# pcap_setup_ms PCAP: INVITE->200 in milliseconds per call, from kernel
# timestamps of the carrier's first INVITE and the first 200 for it (matched
# by Call-ID and CSeq method), one line per answered call.
pcap_setup_ms() {
	tcpdump -r "$1" -nn -tt -A 2>/dev/null | awk '
		function flush() {
			if (cid != "" && method == "INVITE") {
				if (kind == "inv" && !(cid in t_inv)) t_inv[cid] = ts
				if (kind == "200" && !(cid in t_ok)) t_ok[cid] = ts
			}
			kind = ""; cid = ""; method = ""
		}
		/^[0-9]+\.[0-9]+ IP / { flush(); ts = $1; next }
		/INVITE sip:/ { kind = "inv" }
		/SIP\/2\.0 200 / { kind = "200" }
		/^Call-ID: / { cid = $2 }
		/^CSeq: / { method = $3; sub(/[^A-Z]+$/, "", method) }
		END {
			flush()
			for (c in t_ok) if (c in t_inv) printf "%.3f\n", (t_ok[c] - t_inv[c]) * 1000
		}'
}

# throughput FILE...: calls answered per second while each UAC ran (from its
# first to its last answered call), summed over the UACs.
throughput() {
	awk -F';' 'FNR == 1 { if (n > 1 && last > first) r += (n - 1) * 1000 / (last - first); n = 0; next }
		{ if (n == 0) first = $1; last = $1; n++ }
		END { if (n > 1 && last > first) r += (n - 1) * 1000 / (last - first); printf "%.0f\n", r }' "$@"
}

nb=$(neighbours)
printf '# %s target=%s hold=%sms step=%ss uacs=%s rtp=%s log=%s cores=%s load=%s relay_busy=%s neighbours=%s\n' \
	"$(date -u +%Y-%m-%dT%H:%M:%SZ)" "$target" "$hold_ms" "$step_s" "$uacs" "$rtp" "$level" \
	"$(nproc)" "$(cut -d' ' -f1-3 /proc/loadavg)" "$busy_before" "$nb"
if ((busy_before > 0 || nb > 0)); then
	echo "warning: $busy_before ports of $rtp_ports already bound, $nb SIPp/xbridge processes of someone else running: the figures are not comparable" >&2
fi
printf '%-7s %-8s %-7s %-7s %-7s %-7s %-8s %-8s %-8s %-8s %-8s %-11s %s\n' \
	offered achieved calls uac_ok uac_bad uas_bad retrans udp_drop p50_ms p99_ms max_ms cpu_us/call verdict

best=0
for rate in $rates; do
	step="$tmp/r$rate"
	mkdir -p "$step"
	calls=$((rate * step_s))
	per_uac=$((calls / uacs))
	free_ports $((4 + 4 * uacs))
	media=$port_base

	uas_args=(-p "$trunk_port" -mp "$media" -m "$calls" -timeout "$((step_s * 3 + 30))s" -recv_timeout 10s
		-max_recv_loops 10000 -max_sched_loops 10000 -l 15000)
	[[ "$rtp" == 1 ]] && uas_args+=(-rtp_echo)
	(cd "$step" && exec sipp -sf "$uas_xml" "${sipp_flags[@]}" "${uas_args[@]}" \
		-stf uas_stat.csv -screen_file uas_screen.log -error_file uas_errors.log >uas.out 2>&1) &
	uas_pid=$!
	started_pids+=("$uas_pid")
	wait_listening "$trunk_port"
	stage_media "$step"

	nb0=$(neighbours)
	cpu0=$(engine_cpu_ticks)
	drops0=$(udp_rcvbuf_errors)
	uac_ports=()
	filter=""
	for ((u = 0; u < uacs; u++)); do
		free_ports 1
		uac_ports+=("$port_base")
		filter+="${filter:+ or }udp port ${uac_ports[u]}"
	done
	pcap_pid=""
	if [[ -n "${LOAD_PCAP:-}" ]]; then
		tcpdump -i lo -nn -s 0 -B 65536 -w "$step/sip.pcap" "$filter" 2>"$step/tcpdump.err" &
		pcap_pid=$!
		started_pids+=("$pcap_pid")
		for _ in $(seq 50); do
			grep -q listening "$step/tcpdump.err" 2>/dev/null && break
			sleep 0.1
		done
	fi
	uac_pids=()
	for ((u = 0; u < uacs; u++)); do
		(cd "$step" && exec sipp "$uac_dest" -sf "$root/testdata/sipp/uac.xml" "${sipp_flags[@]}" \
			-inf "$tmp/calls.csv" -set rtp "$rtp" -p "${uac_ports[u]}" -mp "$((media + 4 + 4 * u))" \
			-m "$per_uac" -r "$((rate / uacs))" -d "$hold_ms" -l 15000 \
			-timeout "$((step_s * 3 + 20))s" -timeout_error -recv_timeout 10s \
			-max_recv_loops 10000 -max_sched_loops 10000 \
			-trace_rtt -rtt_freq 100 \
			-stf "uac${u}_stat.csv" -screen_file "uac${u}_screen.log" -error_file "uac${u}_errors.log" \
			>"uac$u.out" 2>&1) &
		uac_pids+=($!)
		started_pids+=($!)
	done
	for p in "${uac_pids[@]}"; do wait "$p" || true; done
	cpu1=$(engine_cpu_ticks)
	nb1=$(neighbours)
	drops=$(($(udp_rcvbuf_errors) - drops0))
	# The UAS ends by itself after its -m calls and their 4 s timewait; one
	# that lost calls is stopped after 8 s.
	for _ in $(seq 80); do
		kill -0 "$uas_pid" 2>/dev/null || break
		sleep 0.1
	done
	kill "$uas_pid" 2>/dev/null || true
	wait "$uas_pid" 2>/dev/null || true

	ok=0 bad=0 retrans=0
	for ((u = 0; u < uacs; u++)); do
		f="$step/uac${u}_stat.csv"
		[[ -s "$f" ]] || continue
		ok=$((ok + $(sipp_stat "$f" 'SuccessfulCall(C)')))
		bad=$((bad + $(sipp_stat "$f" 'FailedCall(C)')))
		retrans=$((retrans + $(sipp_stat "$f" 'Retransmissions(C)')))
	done
	uas_bad=$(sipp_stat "$step/uas_stat.csv" 'FailedCall(C)' 2>/dev/null || echo '?')
	# Calls never placed (SIPp could not keep up, or the run timed out) count
	# as failed too.
	missing=$((calls - ok - bad))
	((missing > 0)) && bad=$((bad + missing))
	achieved=$(throughput "$step"/uac*_rtt.csv 2>/dev/null || echo 0)
	cpu_us=$(awk -v c="$((cpu1 - cpu0))" -v t="$clk_tck" -v n="$ok" 'BEGIN { if (n == 0) print "-"; else printf "%.0f", c / t * 1e6 / n }')
	[[ "$target" == direct ]] && cpu_us=-
	read -r p50 p99 pmax < <(percentiles "$step"/uac*_rtt.csv 2>/dev/null || echo "- - -")

	verdict=pass
	if awk -v b="$bad" -v n="$calls" 'BEGIN { exit !(b * 1000 >= n) }'; then verdict="fail(>=0.1% failed)"; fi
	if awk -v a="$achieved" -v r="$rate" 'BEGIN { exit !(a < 0.9 * r) }'; then verdict="fail(rate<90%)"; fi
	[[ "$uas_bad" =~ ^[0-9]+$ ]] && ((uas_bad * 1000 >= calls)) && verdict="fail(uas failed)"
	if [[ "$target" == engine ]] && ! kill -0 "$xbridge_pid" 2>/dev/null; then verdict="fail(engine exited)"; fi

	printf '%-7s %-8s %-7s %-7s %-7s %-7s %-8s %-8s %-8s %-8s %-8s %-11s %s\n' \
		"$rate" "$achieved" "$calls" "$ok" "$bad" "$uas_bad" "$retrans" "$drops" "$p50" "$p99" "$pmax" "$cpu_us" "$verdict"
	if ((nb0 > 0 || nb1 > 0)); then
		echo "  neighbours: $nb0 SIPp/xbridge processes of someone else at the step's start, $nb1 at its end: not comparable"
	fi
	if [[ -n "$pcap_pid" ]]; then
		kill -INT "$pcap_pid" 2>/dev/null || true
		wait "$pcap_pid" 2>/dev/null || true
		read -r c50 c99 cmax < <(pcap_setup_ms "$step/sip.pcap" | quantiles)
		n=$(pcap_setup_ms "$step/sip.pcap" | wc -l)
		echo "  pcap INVITE->200 ms over $n calls: p50 $c50  p99 $c99  max $cmax ($(grep -o '[0-9]* packets dropped by kernel' "$step/tcpdump.err" || echo '? dropped'))"
	fi
	if [[ "$verdict" != pass ]]; then
		for f in "$step"/uac*_stat.csv "$step"/uas_stat.csv; do
			[[ -s "$f" ]] && echo "  $(basename "$f" _stat.csv) failures: $(failure_reasons "$f")"
		done
	fi
	if [[ "$verdict" == pass ]]; then
		best=$rate
	elif [[ -z "${LOAD_NOSTOP:-}" ]]; then
		break
	fi
done

echo "highest passing offered rate: $best calls/s (target=$target, hold ${hold_ms} ms)"
if [[ "$target" == engine ]]; then
	warns=$(grep -c '"level":"\(warn\|error\)"' "$tmp/xbridge.log" || true)
	echo "engine log: $warns warn/error lines; first ones:"
	grep '"level":"\(warn\|error\)"' "$tmp/xbridge.log" | cut -c1-300 | head -5 || true
	# After every step, however it went, the engine must hold no call and no
	# relay port: the end-to-end form of "no port leak". Calls whose ACK was
	# lost are released after 64*T1 (32 s); after an overloaded step a B leg
	# the UAS dropped rings out --answer-timeout (60 s) and waits the cancel
	# guard (32 s) for its 487, so wait that long at most.
	status=''
	for _ in $(seq 100); do
		status=$(curl -fsS "$api/v1/status" 2>/dev/null | jq -c '{active_calls, relay_ports_in_use}') || true
		[[ "$status" == '{"active_calls":0,"relay_ports_in_use":0}' ]] && break
		sleep 1
	done
	echo "engine after the ramp: ${status:-no status}"
fi
