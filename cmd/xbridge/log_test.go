package main

import (
	"bytes"
	"context"
	"log/slog"
	"strings"
	"testing"
	"time"

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
