#!/usr/bin/env bash
# make-prompts.sh: generates the default IVR prompts in testdata/prompts/<lang>/<name>.wav
# with Debian's espeak-ng (Mandarin voice "cmn-latn-pinyin", English "en") and sox: 8 kHz, mono, 16-bit linear PCM,
# the format media.LoadPrompt reads. Operators override them per pool in config with
# their own recordings (convert those the same way, see the sox line below).
#
# Usage: scripts/make-prompts.sh [output-dir]      (default: testdata/prompts)
# Needs: apt-get install -y espeak-ng sox
# The output depends on the espeak-ng version; the committed files were made with 1.51.
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
out=${1:-$root/testdata/prompts}
for tool in espeak-ng sox; do
	command -v "$tool" >/dev/null || {
		echo "make-prompts: $tool not found (apt-get install -y espeak-ng sox)" >&2
		exit 1
	}
done
tmp=$(mktemp -d "${TMPDIR:-/tmp}/xbridge-prompts.XXXXXX")
trap 'rm -rf "$tmp"' EXIT

# say LANG VOICE NAME TEXT: one prompt. espeak-ng speaks at 22.05 kHz; sox
# resamples to 8 kHz mono 16-bit without dither (-D: the same input gives the same
# bytes, so a re-run shows no diff), lowers the level a little (-3 dB, no
# clipping after the resampler's filter), trims leading silence and adds
# 0.2 s at the end so the last word is not cut by the jitter buffer.
say() {
	local lang=$1 voice=$2 name=$3 text=$4
	mkdir -p "$out/$lang"
	espeak-ng -v "$voice" -s 160 -w "$tmp/raw.wav" "$text"
	sox -D "$tmp/raw.wav" -r 8000 -c 1 -b 16 -e signed-integer "$out/$lang/$name.wav" \
		gain -3 silence 1 0.02 0.5% pad 0 0.2
	echo "$lang/$name.wav: $(soxi -D "$out/$lang/$name.wav") s"
}

# Mandarin. espeak-ng's plain "cmn" voice (1.51) spells the pinyin it finds for each
# character with English rules ("qing3" comes out as "king three"); its
# cmn-latn-pinyin variant, the same Mandarin dictionary, speaks it as Mandarin.
say zh cmn-latn-pinyin enter-extension    "请输入分机号，以井号键结束"
say zh cmn-latn-pinyin not-found-retry    "分机号不存在，请重新输入"
say zh cmn-latn-pinyin goodbye            "再见"
say zh cmn-latn-pinyin callee-unavailable "您拨打的用户暂时无法接通"
say zh cmn-latn-pinyin no-callback        "没有可以回拨的号码"
say zh cmn-latn-pinyin unknown-number     "您拨打的号码未绑定，请核实后再拨"
say zh cmn-latn-pinyin call-recorded      "本次通话将被录音"

# English
say en en enter-extension    "Please enter the extension, then press hash."
say en en not-found-retry    "Extension not found. Please try again."
say en en goodbye            "Goodbye."
say en en callee-unavailable "The person you called is not available."
say en en no-callback        "There is no one to call back."
say en en unknown-number     "The number you dialled is not in service."
say en en call-recorded      "This call is recorded."
