package main

import (
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/xbridge/xbridge/store"
)

// TestRemoveOlder: recordings past the cutoff go, newer ones and other
// files stay.
func TestRemoveOlder(t *testing.T) {
	dir := t.TempDir()
	old := time.Now().Add(-48 * time.Hour)
	for name, at := range map[string]time.Time{"r1.wav": old, "r1.wav.A.rtp": old, "r2.wav": time.Now(), "notes.txt": old} {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte("x"), 0o600); err != nil {
			t.Fatal(err)
		}
		if err := os.Chtimes(p, at, at); err != nil {
			t.Fatal(err)
		}
	}
	removeOlder(dir, time.Now().Add(-24*time.Hour), zerolog.Nop())
	for name, want := range map[string]bool{"r1.wav": false, "r1.wav.A.rtp": false, "r2.wav": true, "notes.txt": true} {
		if _, err := os.Stat(filepath.Join(dir, name)); (err == nil) != want {
			t.Errorf("%s: exists %v, want %v", name, err == nil, want)
		}
	}
}

// TestPoolRecordsFollowsSettings: a pool's recording settings reach the
// calls answered after them, within poolPolicyTTL.
func TestPoolRecordsFollowsSettings(t *testing.T) {
	st, err := store.Open(filepath.Join(t.TempDir(), "x.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	policy := poolRecords(st, zerolog.Nop())
	if p := policy("p"); p.All || p.Notice {
		t.Fatalf("a pool with no settings records: %+v", p)
	}
	if err := st.SetPoolSettings(t.Context(), "p", store.PoolSettings{RecordCalls: true, RecordNotice: true}); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(poolPolicyTTL + 5*time.Second)
	for p := policy("p"); !p.All || !p.Notice; p = policy("p") {
		if time.Now().After(deadline) {
			t.Fatalf("settings not seen after %v: %+v", poolPolicyTTL, p)
		}
		time.Sleep(50 * time.Millisecond)
	}
}
