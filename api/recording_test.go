package api

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/xbridge/xbridge/store"
)

// TestRecordingServed: a recorded call's WAV is served whole and by range;
// a call not recorded, or not found, is a 404.
func TestRecordingServed(t *testing.T) {
	dir := t.TempDir()
	a := newTestAPI(t, WithRecordings(dir))
	recs := a.queueRecords(2)
	recorded := recs[0]
	recorded.Recording = "recorded"
	if err := a.db.QueueCall(context.Background(), store.CallChange{Record: &recorded}); err != nil {
		t.Fatal(err)
	}
	for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(5 * time.Millisecond) {
		if r, _ := a.db.Record(context.Background(), recorded.ID); r.Recording == "recorded" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("record not updated")
		}
	}
	wav := append([]byte("RIFF....WAVEfmt "), bytes.Repeat([]byte{7}, 1000)...)
	if err := os.WriteFile(filepath.Join(dir, recorded.ID+".wav"), wav, 0o600); err != nil {
		t.Fatal(err)
	}
	res := a.do("GET", "/v1/records/"+recorded.ID+"/recording", "")
	if res.status != 200 || !bytes.Equal(res.body, wav) || res.header.Get("Content-Type") != "audio/wav" || res.header.Get("Accept-Ranges") != "bytes" {
		t.Fatalf("GET: %d, %d bytes, %q", res.status, len(res.body), res.header.Get("Content-Type"))
	}
	res = a.do("GET", "/v1/records/"+recorded.ID+"/recording", "", "Range", "bytes=4-7")
	if res.status != 206 || string(res.body) != "...." || res.header.Get("Content-Range") != "bytes 4-7/1016" {
		t.Fatalf("range: %d %q %q", res.status, res.body, res.header.Get("Content-Range"))
	}
	if res := a.do("GET", "/v1/records/"+recorded.ID+"/recording", "", "Range", "bytes=5000-"); res.status != 416 {
		t.Errorf("range past the end: %d", res.status)
	}
	if res := a.do("GET", "/v1/records/"+recs[1].ID+"/recording", ""); res.status != 404 {
		t.Errorf("a call not recorded: %d", res.status)
	}
	if res := a.do("GET", "/v1/records/r-nope/recording", ""); res.status != 404 {
		t.Errorf("no such record: %d", res.status)
	}
}
