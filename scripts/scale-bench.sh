#!/usr/bin/env bash
# scale-bench.sh: the store at issue 6's scale. Runs BenchmarkScale
# (store/scale_test.go) once: by default 1,000,000 live bindings over a pool
# of 10,000 numbers in one bbolt file (80% AXB, 15% AXE, 5% AXN asked; AXN
# is capped at one per number outside the AXE numbers and the rest made up
# with AXB, the table says what was built), then prints the figures as a
# Markdown table against the issue's goals, with the commit and the command,
# ready to paste into docs/PERFORMANCE.md. The go test output (with p99.9
# and max of every distribution) is shown as it runs.
#
# It fills a file of about a gigabyte with fsynced writes and takes minutes:
# run it on a quiet machine (the header shows the load average it started
# under) and on a real disk (on tmpfs fsync is free and creates/s means
# nothing; the header shows the file system of TMPDIR).
#
# Settings (environment, passed through to the benchmark):
#   XBRIDGE_SCALE_BINDINGS  live bindings, default 1000000
#   XBRIDGE_SCALE_POOL      numbers in the pool, default 10000
#   XBRIDGE_SCALE_MIX       AXB/AXE/AXN percent, default 80/15/5
#   XBRIDGE_SCALE_WRITERS   concurrent CreateBinding callers of the fill, default 64
#   XBRIDGE_SCALE_SWEEP     bindings expiring at one second, default 100000
#   XBRIDGE_SCALE_LOOKUPS   lookups per kind, serial and again parallel, default 100000
#   XBRIDGE_SCALE_ALLOCS    allocation sample (single writer), default 10000
#   SCALE_TIMEOUT           go test -timeout, default 60m
#   GOGC                    the collector's target, default 400 as in the binary
#   TMPDIR                  where the bbolt file goes (go test's t.TempDir)
#   KEEP=1                  keep the scratch directory with the raw output
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
timeout=${SCALE_TIMEOUT:-60m}

# shellcheck source=scripts/sipp-lib.sh
source "$root/scripts/sipp-lib.sh"

command -v go >/dev/null || die "go not found"
[[ "$timeout" =~ ^[0-9]+[smh]$ ]] || die "SCALE_TIMEOUT must be a duration like 60m, got $timeout"

scratch scale

cd "$root"
commit=$(git rev-parse --short HEAD)
if [[ -n "$(git status --porcelain --untracked-files=no)" ]]; then
	commit="$commit+changes"
fi
export XBRIDGE_SCALE=1
# The collector's target of the xbridge binary (cmd/xbridge/gc.go), which
# the test process would otherwise not have: the figures are the store's as
# the binary runs it. Set GOGC to measure another.
export GOGC=${GOGC:-400}
settings="GOGC=$GOGC "
for v in BINDINGS POOL MIX WRITERS SWEEP LOOKUPS ALLOCS; do
	name=XBRIDGE_SCALE_$v
	if [[ -n "${!name:-}" ]]; then
		settings+="$name=${!name} "
	fi
done
cmd="${settings}XBRIDGE_SCALE=1 go test -run XXX -bench BenchmarkScale -benchtime 1x -timeout $timeout ./store"

printf '# %s commit=%s cores=%s load=%s %s tmpdir=%s (%s)\n' \
	"$(date -u +%Y-%m-%dT%H:%M:%SZ)" "$commit" "$(nproc)" "$(cut -d' ' -f1-3 /proc/loadavg)" \
	"$(go env GOVERSION)" "${TMPDIR:-/tmp}" "$(stat -f -c %T "${TMPDIR:-/tmp}")"
printf '# %s\n' "$cmd"

go test -run XXX -bench BenchmarkScale -benchtime 1x -timeout "$timeout" ./store 2>&1 | tee "$tmp/out" ||
	die "the benchmark failed (output above)"
grep -q '^BenchmarkScale' "$tmp/out" || die "no BenchmarkScale result in the output (was it skipped?)"

# The benchmark line is "BenchmarkScale-N 1 T ns/op V1 unit1 V2 unit2 ...";
# every figure is one value and unit (store/scale_test.go, report).
echo
printf '%s, %s, %s\n\n' "\`$commit\`" "$(date -u +%Y-%m-%d)" "\`$cmd\`"
awk -v writers="${XBRIDGE_SCALE_WRITERS:-64}" '
function commas(n,   s) {
	s = sprintf("%.0f", n)
	while (s ~ /[0-9][0-9][0-9][0-9]/) sub(/[0-9][0-9][0-9]($|,)/, ",&", s)
	return s
}
function us(ns) { return ns < 10000 ? sprintf("%.1f µs", ns / 1000) : sprintf("%.0f µs", ns / 1000) }
function ms(ns) { return sprintf("%.1f ms", ns / 1e6) }
function verdict(ok) { return ok ? "met" : "**missed**" }
function row(what, value, goal, ok) { printf "| %s | %s | %s | %s |\n", what, value, goal, goal == "" ? "" : verdict(ok) }
/^BenchmarkScale/ {
	for (i = 5; i < NF; i += 2) v[$(i + 1)] = $i
	found = 1
}
END {
	if (!found) exit 1
	print "| figure | value | goal | |"
	print "|---|---|---|---|"
	row("live bindings AXB / AXE / AXN", commas(v["axb"]) " / " commas(v["axe"]) " / " commas(v["axn"]), "", 1)
	row("durable creates, " writers " writers", commas(v["creates/s"]) "/s", "≥ 5,000/s", v["creates/s"] >= 5000)
	row("create latency p99, " writers " writers", ms(v["create-p99-ns"]), "", 1)
	# The lookup kinds in a fixed order: the known ones, then any other.
	names["x_caller"] = "(X, caller)"; names["x_ext"] = "(X, extension)"
	n = split("x_caller x_ext", kinds, " ")
	for (u in v) {
		if (u !~ /-par-p99-ns$/) continue
		k = u; sub(/-par-p99-ns$/, "", k)
		if (!(k in names)) { kinds[++n] = k; names[k] = k }
	}
	for (i = 1; i <= n; i++) {
		k = kinds[i]
		if (!((k "-par-p99-ns") in v)) continue
		label = names[k]
		row("lookup " label " p50 / p99, 1 goroutine", us(v[k "-p50-ns"]) " / " us(v[k "-p99-ns"]), "p99 ≤ 20 µs", v[k "-p99-ns"] <= 20000)
		row("lookup " label " p50 / p99, parallel", us(v[k "-par-p50-ns"]) " / " us(v[k "-par-p99-ns"]), "p99 ≤ 20 µs", v[k "-par-p99-ns"] <= 20000)
	}
	row("allocation p50 / p99 (the choice of X, no commit)", us(v["alloc-p50-ns"]) " / " us(v["alloc-p99-ns"]), "p99 ≤ 200 µs", v["alloc-p99-ns"] <= 200000)
	row("allocating create p50 / p99, 1 writer, durable", ms(v["create1-p50-ns"]) " / " ms(v["create1-p99-ns"]), "", 1)
	if ("swept" in v) {
		row("sweep of " commas(v["swept"]) " expiring at one second", sprintf("%.2f s", v["sweep-ms"] / 1000), "", 1)
		row("routing stall during the sweep (each lookup, own time), p99.9 / max", us(v["stall-p99.9-ns"]) " / " ms(v["stall-max-ns"]), "max ≤ 10 ms", v["stall-max-ns"] <= 10e6)
		row("the same lookups from their due times, p99.9 / max", ms(v["routed-p99.9-ns"]) " / " ms(v["routed-max-ns"]), "", 1)
		row("longest wait of a goroutine for a core during the sweep", ms(v["sched-wait-max-ns"]), "", 1)
	}
	row("bbolt file after the fill", sprintf("%.0f MiB", v["file-MiB"]), "", 1)
	row("VmRSS / Go heap in use after the fill", sprintf("%.0f MiB / %.0f MiB", v["rss-MiB"], v["heap-MiB"]), "", 1)
}' "$tmp/out" || die "could not read the figures from the benchmark line"
