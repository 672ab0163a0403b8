package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/emiago/sipgo/sip"
	"github.com/rs/zerolog"
)

func TestUnparsedFilter(t *testing.T) {
	var buf bytes.Buffer
	f := newUnparsedFilter(zerolog.NewSlogHandler(zerolog.New(&buf)), 3)
	raw := "INVITE sip:+8617000000001@x SIP/2.0\r\nFrom: <sip:+8613800000001@a>\r\n"
	at := time.Unix(1000, 0) // one rate window, however slow the machine
	for range 10 {
		r := slog.NewRecord(at, slog.LevelError, "failed to parse", 0)
		r.AddAttrs(slog.String("data", raw), slog.String("error", "bad header"))
		if err := f.Handle(context.Background(), r); err != nil {
			t.Fatal(err)
		}
	}
	slog.New(f).Error("something else", "data", "kept")

	lines := strings.Split(strings.TrimSpace(buf.String()), "\n")
	if len(lines) != 4 {
		t.Fatalf("got %d lines, want 3 unparsed (rate-limited) + 1 other:\n%s", len(lines), buf.String())
	}
	for _, line := range lines[:3] {
		if strings.Contains(line, "13800000001") || strings.Contains(line, "INVITE") {
			t.Errorf("the raw message reached the log: %s", line)
		}
		for _, want := range []string{`"level":"warn"`, `"bytes":`, `"error":"bad header"`} {
			if !strings.Contains(line, want) {
				t.Errorf("line lacks %s: %s", want, line)
			}
		}
	}
	if !strings.Contains(lines[3], `"data":"kept"`) {
		t.Errorf("other sipgo lines must pass untouched: %s", lines[3])
	}
}

func TestUnparsedFilterWindow(t *testing.T) {
	f := newUnparsedFilter(slog.DiscardHandler, 2)
	now := time.Unix(1000, 0)
	got := []bool{f.allow(now), f.allow(now), f.allow(now), f.allow(now.Add(time.Second)), f.allow(now.Add(time.Second))}
	want := []bool{true, true, false, true, true}
	for i := range want {
		if got[i] != want[i] {
			t.Fatalf("allow sequence %v, want %v", got, want)
		}
	}
}

// TestSIPLogLevels feeds sipgo's own warn and error lines, as sipgo writes
// them, through the handler sipgo logs to: routine protocol events come out
// at debug (and not at all at info), the rest at the level sipgo gave them.
func TestSIPLogLevels(t *testing.T) {
	keyErr := errors.New(`make key failed: missing Via header`)
	cases := []struct {
		level slog.Level
		msg   string
		attrs []any
		want  string // zerolog level of the line; "" for none at info
	}{
		{slog.LevelError, "ACK loop retransimission. Resending after T2", []any{"tx", "z9hG4bK1__INVITE"}, "debug"},
		{slog.LevelWarn, "client transport error detected. Waiting for retransmission", []any{"tx", "k"}, "debug"},
		{slog.LevelError, "send '100 Trying' response failed", []any{"error", sip.ErrTransactionTerminated, "tx", "k"}, "debug"},
		{slog.LevelWarn, "Missing Content-Length for reliable transport", nil, "debug"},
		{slog.LevelError, "Client tx failed to handle response", []any{"error", errors.New("make key failed: no via")}, "debug"},
		{slog.LevelError, "Server tx failed to handle request", []any{"error", keyErr, "req", "BYE sip:x SIP/2.0"}, "debug"},
		{slog.LevelError, "Server tx failed to handle request", []any{"error", errors.New("failed to receive req: unexpected message error"), "req", "PRACK sip:x SIP/2.0"}, "debug"},
		{slog.LevelError, "Server tx failed to handle request", []any{"error", errors.New("server tx get connection failed: dial tcp: refused"), "req", "BYE sip:x SIP/2.0"}, "error"},
		{slog.LevelError, "Read connection error", []any{"laddr", "127.0.0.1:5060", "error", errors.New("read: bad file descriptor")}, "error"},
		{slog.LevelError, "send ACK request failed", []any{"tx", "k"}, "error"},
		{slog.LevelError, "UDP ref went negative on try close", []any{"ref", -1}, "error"},
		{slog.LevelWarn, "connection pool not clean cleanup", []any{"error", errors.New("x")}, "warn"},
		{slog.LevelWarn, "DNS resolution is slow", []any{"dur", time.Second}, "warn"},
		{slog.LevelError, "failed to parse", []any{"error", errors.New("bad"), "data", "INVITE"}, "warn"},
		{slog.LevelInfo, "Non existing client tx was removed", []any{"tx", "k"}, "info"},
		{slog.LevelDebug, "Server transaction terminating", nil, "debug"},
	}
	for _, tc := range cases {
		for _, level := range []zerolog.Level{zerolog.DebugLevel, zerolog.InfoLevel} {
			var buf bytes.Buffer
			h := routineFilter{newUnparsedFilter(zerolog.NewSlogHandler(zerolog.New(&buf).Level(level)), 100)}
			slog.New(h).Log(context.Background(), tc.level, tc.msg, tc.attrs...)
			want := tc.want
			if lv, _ := zerolog.ParseLevel(want); lv < level {
				want = ""
			}
			got := ""
			if line := strings.TrimSpace(buf.String()); line != "" {
				var rec struct{ Level string }
				if err := json.Unmarshal([]byte(line), &rec); err != nil {
					t.Fatalf("%q: %v: %s", tc.msg, err, line)
				}
				got = rec.Level
			}
			if got != want {
				t.Errorf("%q logged at %s (process level %s): got %q, want %q\n%s", tc.msg, tc.level, level, got, want, buf.String())
			}
		}
	}
}

// TestSIPLogLevelsCoverSipgo reads the sipgo source the engine is built
// with: every line it logs at warn or error must be classified, routine
// (sipgoRoutine) or kept (sipgoKept), so an upgrade that adds one is looked
// at rather than left at whatever level sipgo picked.
func TestSIPLogLevelsCoverSipgo(t *testing.T) {
	out, err := exec.Command("go", "list", "-m", "-f", "{{.Dir}}", "github.com/emiago/sipgo").Output()
	if err != nil {
		t.Fatalf("locate sipgo's source: %v", err)
	}
	dir := strings.TrimSpace(string(out))
	files, err := filepath.Glob(filepath.Join(dir, "*.go"))
	if err != nil {
		t.Fatal(err)
	}
	more, _ := filepath.Glob(filepath.Join(dir, "sip", "*.go"))
	files = append(files, more...)
	re := regexp.MustCompile(`\.(?:Error|Warn)\(\s*"([^"]+)"`)
	known := map[string]bool{}
	for m := range sipgoRoutine {
		known[m] = true
	}
	for _, m := range sipgoKept {
		known[m] = true
	}
	found := 0
	for _, f := range files {
		if strings.HasSuffix(f, "_test.go") {
			continue
		}
		src, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range re.FindAllSubmatch(src, -1) {
			found++
			if msg := string(m[1]); !known[msg] {
				t.Errorf("%s logs %q at warn or error: classify it in sipgoRoutine or sipgoKept", filepath.Base(f), msg)
			}
		}
	}
	if found < len(sipgoRoutine) {
		t.Fatalf("found %d warn/error lines in %s: the scan is broken", found, dir)
	}
}
