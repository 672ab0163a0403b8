#!/usr/bin/env bash
# sipp-sms.sh: pickup codes through the real binary's SMS relay, with SIPp on
# both sides. Builds xbridge, starts it on free 127.0.0.1 ports with short
# SMS retries, binds A (138000...) and B (139000...) on a middle number X
# for a few seconds, then sends A's SMS twice: while the binding is live,
# and once it has expired and is in its SMS grace period. Each time the
# sender (testdata/sipp/uac-sms.xml) must get 202 Accepted, and B's phone
# behind the trunk (testdata/sipp/uas-sms.xml), out of reach at first
# (480), must get the SMS again with the same Call-ID, from X, with A's
# number nowhere in it. Then /metrics must count two SMS received and
# delivered with two retries, none queued, and an INVITE in the grace
# period must be refused with 480.
#
# Before that, a self-check proves the privacy check can fail: A's SMS
# straight at B's phone (no engine between them) must fail uas-sms.xml
# with "regexp matched but should not".
#
# Usage: scripts/sipp-sms.sh     (KEEP=1 keeps the logs; XBRIDGE_BIN=path
# runs a given binary).
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)

# shellcheck source=scripts/sipp-lib.sh
source "$root/scripts/sipp-lib.sh"

command -v sipp >/dev/null || die "sipp not found (Debian package sip-tester)"
command -v jq >/dev/null || die "jq not found"
command -v curl >/dev/null || die "curl not found"

party_a=13800000001
party_b=13900000001
middle=17200000001
ttl=4

scratch sms keep-on-failure

# run_pair DIR SENDER X RECEIVER PHONE_PORT TARGET_PORT: one SMS from SENDER
# to X at 127.0.0.1:TARGET_PORT; the receiver's phone listens on
# PHONE_PORT. Sets pair_uac_rc and pair_uas_rc (read indirectly by sms).
run_pair() {
	local dir=$1 sender=$2 x=$3 rx=$4 uas_port=$5 target=$6
	mkdir -p "$dir"
	printf 'SEQUENTIAL\n%s;%s;\n' "$sender" "$x" >"$dir/sender.csv"
	printf 'SEQUENTIAL\n%s;%s;\n' "$x" "$rx" >"$dir/phone.csv"
	(cd "$dir" && exec sipp -sf "$root/testdata/sipp/uas-sms.xml" "${sipp_flags[@]}" \
		-inf phone.csv -p "$uas_port" -m 1 -timeout 25s -timeout_error -recv_timeout 15s \
		-stf uas_stat.csv -screen_file uas_screen.log -error_file uas_errors.log >uas.out 2>&1) &
	local uas=$!
	started_pids+=("$uas")
	wait_listening "$uas_port"
	# shellcheck disable=SC2034 # read through ${!rc_var} in sms
	(cd "$dir" && exec sipp "127.0.0.1:$target" -sf "$root/testdata/sipp/uac-sms.xml" "${sipp_flags[@]}" \
		-inf sender.csv -m 1 -timeout 15s -timeout_error -recv_timeout 10s \
		-stf uac_stat.csv -screen_file uac_screen.log -error_file uac_errors.log >uac.out 2>&1) &&
		pair_uac_rc=0 || pair_uac_rc=$?
	wait "$uas" && pair_uas_rc=0 || pair_uas_rc=$?
}

# The privacy check must be able to fail: A's SMS straight at B's phone
# carries A's number. The phone records the failed check, answers 480 and
# waits for a retry the sender never sends; the check is in its error log.
selfcheck() {
	local dir="$tmp/selfcheck" base
	free_ports 2
	base=$port_base
	run_pair "$dir" "$party_a" "$party_b" "$party_b" "$base" "$base"
	if [[ $pair_uas_rc -eq 0 ]] || ! grep -qi 'regexp matched but should not' "$dir/uas_errors.log"; then
		die "self-check: uas-sms.xml did not fail an SMS that shows A's number to B (sipp exit $pair_uas_rc)"
	fi
}

port_plan_selfcheck
selfcheck

build_xbridge
start_xbridge info 20000-29999 --sms-retry-min 500ms --sms-retry-max 1s --sms-grace 1h

api_post /v1/pools/default/numbers "{\"numbers\":[\"$middle\"]}" >/dev/null
binding=$(api_post /v1/bindings "{\"a\":\"$party_a\",\"b\":\"$party_b\",\"x\":\"$middle\",\"pool\":\"default\",\"ttl_seconds\":$ttl}")
id=$(jq -er .id <<<"$binding") || die "binding without id: $binding"
x=$(jq -er .x <<<"$binding") || die "binding without x: $binding"
a=$(jq -er .a <<<"$binding") || die "binding without a: $binding"
b=$(jq -er .b <<<"$binding") || die "binding without b: $binding"

fails=()
results=()
# sms NAME: A texts X; B's phone must get it after one 480.
sms() {
	run_pair "$tmp/$1" "$a" "$x" "$b" "$trunk_port" "$sip_port"
	local side rc_var csv ok
	for side in uac uas; do
		rc_var="pair_${side}_rc"
		csv="$tmp/$1/${side}_stat.csv"
		ok=0
		[[ -s $csv ]] && ok=$(sipp_stat "$csv" 'SuccessfulCall(C)')
		[[ ${!rc_var} -eq 0 && $ok == 1 ]] || fails+=("$1: $side: sipp exit ${!rc_var}, $ok of 1 SMS completed")
	done
	results+=("$1: sender $(sipp_stat "$tmp/$1/uac_stat.csv" 'SuccessfulCall(C)' || echo 0)/1, phone $(sipp_stat "$tmp/$1/uas_stat.csv" 'SuccessfulCall(C)' || echo 0)/1")
}

sms live
# The binding expires: its calls end, its SMS go on.
state=''
for _ in $(seq 100); do
	state=$(curl -fsS --max-time 2 "$api/v1/bindings/$id" | jq -r .state) || true
	[[ $state == grace ]] && break
	sleep 0.1
done
[[ $state == grace ]] || fails+=("binding $id is $state, not in grace, after its expiry")
sms grace

# A call in the grace period is refused with 480.
cat >"$tmp/invite.xml" <<'XML'
<?xml version="1.0" encoding="UTF-8"?>
<!DOCTYPE scenario SYSTEM "sipp.dtd">
<scenario name="call in grace">
  <send retrans="500"><![CDATA[
      INVITE sip:[field1]@[remote_ip]:[remote_port] SIP/2.0
      Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch]
      From: <sip:[field0]@[local_ip]:[local_port]>;tag=[pid]SIPpTag00[call_number]
      To: <sip:[field1]@[remote_ip]:[remote_port]>
      Call-ID: [call_id]
      CSeq: 1 INVITE
      Contact: <sip:[local_ip]:[local_port]>
      Max-Forwards: 70
      Content-Length: 0

  ]]></send>
  <recv response="100" optional="true"/>
  <recv response="480"/>
  <send><![CDATA[
      ACK sip:[field1]@[remote_ip]:[remote_port] SIP/2.0
      Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch]
      [last_From:]
      [last_To:]
      Call-ID: [call_id]
      CSeq: 1 ACK
      Max-Forwards: 70
      Content-Length: 0

  ]]></send>
</scenario>
XML
printf 'SEQUENTIAL\n%s;%s;\n' "$a" "$x" >"$tmp/invite.csv"
(cd "$tmp" && sipp "127.0.0.1:$sip_port" -sf invite.xml "${sipp_flags[@]}" -inf invite.csv -m 1 \
	-timeout 10s -timeout_error -recv_timeout 5s -stf invite_stat.csv -screen_file invite_screen.log \
	-error_file invite_errors.log >invite.out 2>&1) || fails+=("a call in the grace period was not refused with 480")

metrics=$(curl -fsS --max-time 5 "$api/metrics") || die "GET /metrics"
metric() { awk -v m="$1" '$1 == m { print $2 }' <<<"$metrics"; }
for want in 'xbridge_sms_total{result="received"} 2' 'xbridge_sms_total{result="delivered"} 2' \
	'xbridge_sms_retries_total 2' 'xbridge_sms_queued 0' 'xbridge_sms_total{result="failed"} 0'; do
	read -r name value <<<"$want"
	got=$(metric "$name")
	[[ $got == "$value" ]] || fails+=("$name = ${got:-absent}, want $value")
done
kill -0 "$xbridge_pid" 2>/dev/null || fails+=("xbridge exited during the run")

summary="sipp-sms: X $x, A $a to B $b: ${results[*]}"
if ((${#fails[@]})); then
	echo "$summary" >&2
	printf 'FAIL: %s\n' "${fails[@]}" >&2
	for f in "$tmp"/{live,grace}/{uac,uas}_errors.log; do
		[[ -s "$f" ]] && { echo "--- $f (first lines)" >&2; grep -v watchdog "$f" | head -20 >&2; }
	done
	echo "--- xbridge warnings and errors (first lines)" >&2
	grep -E '"level":"(warn|error|fatal|panic)"' "$tmp/xbridge.log" | head -10 >&2 || true
	exit 1
fi
echo "$summary; grace period: SMS relayed, call refused with 480; metrics agree"
