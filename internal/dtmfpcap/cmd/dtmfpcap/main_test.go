package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/xbridge/xbridge/internal/dtmfpcap"
)

func TestRun(t *testing.T) {
	dir := t.TempDir()
	out := filepath.Join(dir, "keys.pcap")
	if err := run([]string{"-o", out, "-key", "100ms", "-gap", "200ms", "-lead-in", "0s", "1234#"}); err != nil {
		t.Fatal(err)
	}
	got, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	// The same stream as the package builds for these options, byte for byte.
	packets, err := dtmfpcap.Keys("1234#", dtmfpcap.WithKeyTime(100e6), dtmfpcap.WithGap(200e6), dtmfpcap.WithLeadIn(0))
	if err != nil {
		t.Fatal(err)
	}
	var want bytes.Buffer
	if err := dtmfpcap.WritePcap(&want, packets); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, want.Bytes()) {
		t.Fatalf("wrote %d bytes, not the %d of the package's stream", len(got), want.Len())
	}
}

func TestRunRejects(t *testing.T) {
	dir := t.TempDir()
	out := filepath.Join(dir, "keys.pcap")
	for _, tc := range []struct {
		name string
		args []string
		want string
	}{
		{"no output", []string{"1234"}, "need -o"},
		{"no keys", []string{"-o", out}, "need -o"},
		{"two key strings", []string{"-o", out, "12", "34"}, "need -o"},
		{"bad key", []string{"-o", out, "12x"}, "not a DTMF key"},
		{"payload type over 7 bits", []string{"-o", out, "-pt", "200", "1"}, "7 bits"},
		{"static payload type", []string{"-o", out, "-pt", "0", "1"}, "not dynamic"},
		{"unknown flag", []string{"-o", out, "-loud", "1"}, "not defined"},
		{"unwritable output", []string{"-o", filepath.Join(dir, "missing", "k.pcap"), "1"}, "no such file"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := run(tc.args)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err %v, want one saying %q", err, tc.want)
			}
			if _, serr := os.Stat(out); serr == nil {
				t.Fatalf("%s written despite the error", out)
			}
		})
	}
}
