package sippscenario

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/xbridge/xbridge/internal/testkit"
)

// sippTimeout bounds every SIPp run of these tests, on top of SIPp's own
// -timeout.
const sippTimeout = 60 * time.Second

// sippPath is the SIPp binary, or the test is skipped.
func sippPath(t *testing.T) string {
	t.Helper()
	p, err := exec.LookPath("sipp")
	if err != nil {
		t.Skip("sipp not installed (Debian package sip-tester)")
	}
	return p
}

// scenario is the path of a scenario of testdata/sipp.
func scenario(t *testing.T, name string) string {
	t.Helper()
	p, err := filepath.Abs(filepath.Join("..", "..", "testdata", "sipp", name))
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// sippCmd is a SIPp run in dir on 127.0.0.1 with the options every run
// here shares: errors to errors.log, statistics to stat.csv.
func sippCmd(t *testing.T, dir string, args ...string) *exec.Cmd {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), sippTimeout)
	t.Cleanup(cancel)
	all := append([]string{"-i", "127.0.0.1", "-mi", "127.0.0.1", "-m", "1", "-nostdin",
		"-timeout", "30s", "-timeout_error", "-recv_timeout", "10s",
		"-trace_err", "-error_file", "errors.log", "-trace_stat", "-stf", "stat.csv"}, args...)
	cmd := exec.CommandContext(ctx, sippPath(t), all...)
	cmd.Dir = dir
	return cmd
}

// sippErrors is what SIPp wrote to errors.log in dir ("" when nothing).
func sippErrors(t *testing.T, dir string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(dir, "errors.log"))
	if err != nil {
		return ""
	}
	return string(b)
}

// sippStat is the final value of a column of SIPp's stat.csv in dir, e.g.
// "FailedRegexpShouldntMatch(C)".
func sippStat(t *testing.T, dir, column string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(dir, "stat.csv"))
	if err != nil {
		t.Fatal(err)
	}
	rows := strings.Split(strings.TrimSpace(string(b)), "\n")
	if len(rows) < 2 {
		t.Fatalf("stat.csv has %d rows", len(rows))
	}
	head, last := strings.Split(rows[0], ";"), strings.Split(rows[len(rows)-1], ";")
	for i, h := range head {
		if h == column && i < len(last) {
			return last[i]
		}
	}
	t.Fatalf("stat.csv has no column %s", column)
	return ""
}

// freePortPair is a base for SIPp's -mp, which binds it and base+2 (and
// their RTCP ports): four fixed ports (testkit.FixedPorts).
func freePortPair(t *testing.T) int { return testkit.FixedPorts(t, 4) }

// waitBound waits (bounded) until a process has bound UDP port on
// 127.0.0.1: a bind of our own fails once it has.
func waitBound(t *testing.T, port int) {
	t.Helper()
	// The kernel's socket table says whether SIPp has bound the port.
	// Probing by binding it ourselves, as this did once, could hold the
	// port at the moment SIPp binds it, and SIPp then gives up.
	for range 400 {
		if udpBound(port) {
			return
		}
		time.Sleep(25 * time.Millisecond)
	}
	t.Fatalf("nothing bound udp port %d within 10 s", port)
}

// udpBound reports whether a UDP socket is bound to port, from
// /proc/net/udp and udp6 (local_address is hex ADDR:PORT).
func udpBound(port int) bool {
	suffix := fmt.Sprintf(":%04X", port)
	for _, f := range []string{"/proc/net/udp", "/proc/net/udp6"} {
		b, err := os.ReadFile(f)
		if err != nil {
			continue
		}
		for _, line := range strings.Split(string(b), "\n")[1:] {
			fields := strings.Fields(line)
			if len(fields) > 1 && strings.HasSuffix(fields[1], suffix) {
				return true
			}
		}
	}
	return false
}

func lastBytes(s string, n int) string {
	if len(s) > n {
		return s[len(s)-n:]
	}
	return s
}

// phoneRun is one run of a phone's scenario (a UAS) against a scripted
// engine: SIPp serves name with the injection line x;party on a fixed
// port, drive plays the engine's side, and the run must pass, or fail on
// stat with errLog in SIPp's error log.
type phoneRun struct {
	scenario, x, party string
	extra              []string // more SIPp arguments
	stat, errLog       string   // "" for a run that must pass
}

func (r phoneRun) check(t *testing.T, drive func(port int)) {
	t.Helper()
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "phone.csv"), fmt.Appendf(nil, "SEQUENTIAL\n%s;%s;\n", r.x, r.party), 0o644); err != nil {
		t.Fatal(err)
	}
	port := testkit.FixedPorts(t, 1)
	args := append([]string{"-sf", scenario(t, r.scenario), "-inf", "phone.csv", "-p", strconv.Itoa(port)}, r.extra...)
	cmd := sippCmd(t, dir, args...)
	var out strings.Builder
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	waitBound(t, port)
	drive(port)
	err := cmd.Wait()
	errs := sippErrors(t, dir)
	if r.stat == "" {
		if err != nil {
			t.Fatalf("sipp: %v\n%s\n%s", err, lastBytes(out.String(), 1000), lastBytes(errs, 2000))
		}
		if got := sippStat(t, dir, "SuccessfulCall(C)"); got != "1" {
			t.Fatalf("%s calls passed, want 1", got)
		}
		return
	}
	if err == nil || sippStat(t, dir, r.stat) != "1" || !strings.Contains(errs, r.errLog) {
		t.Fatalf("sipp: %v, %s = %s; want the call failed on %q; errors:\n%s",
			err, r.stat, sippStat(t, dir, r.stat), r.errLog, lastBytes(errs, 2000))
	}
}
