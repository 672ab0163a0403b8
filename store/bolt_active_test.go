package store

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"
)

// testActiveCall is a record of the shape an engine writes.
func testActiveCall(id string) ActiveCall {
	leg := func(callID, target string, routes ...string) DialogLeg {
		return DialogLeg{
			CallID: callID, LocalTag: "lt" + id, RemoteTag: "rt" + id,
			LocalURI: "sip:+8617000000001@127.0.0.1;user=phone", RemoteURI: "sip:+8613900000002@127.0.0.1;user=phone",
			RemoteTarget: target, RouteSet: routes, NextCSeq: 102, Transport: "UDP", Destination: "127.0.0.1:5080",
		}
	}
	return ActiveCall{
		ID:        id,
		BindingID: "b01hxyz" + id,
		Legs: [2]DialogLeg{
			leg("a-"+id+"@carrier", "sip:carrier@127.0.0.1:5062", "sip:127.0.0.1:5070;lr"),
			leg(id, "sip:trunk@127.0.0.1:5080"),
		},
		AnsweredAt: epoch,
	}
}

// A version 1 record, written before call records, still decodes: the
// same fields, no record ID.
func TestActiveCallRecordV1(t *testing.T) {
	c := testActiveCall("c1")
	v2 := encodeActiveCall(c)
	// Version 2 puts the record ID (here empty: one zero length byte)
	// after the binding ID.
	at := 1 + 8 + 1 + len(c.ID) + 1 + len(c.BindingID)
	if v2[at] != 0 {
		t.Fatalf("byte %d of the record is %d, want the empty record id", at, v2[at])
	}
	v1 := append([]byte{activeCallV1}, v2[1:at]...)
	v1 = append(v1, v2[at+1:]...)
	got, err := decodeActiveCall(v1)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, c) {
		t.Errorf("decoded\n %+v\nwant %+v", got, c)
	}
}

func TestActiveCallRecordRoundTrip(t *testing.T) {
	tests := map[string]ActiveCall{
		"engine's shape": testActiveCall("c1"),
		"with its call record": func() ActiveCall {
			c := testActiveCall("c3")
			c.RecordID = "r01hxyzc3"
			return c
		}(),
		"bare": {ID: "x", Legs: [2]DialogLeg{{CallID: "a"}, {CallID: "b"}}, AnsweredAt: time.Unix(0, 1).UTC()},
		"full": func() ActiveCall {
			c := testActiveCall("c2")
			c.Legs[1].RouteSet = make([]string, maxActiveRoutes)
			for i := range c.Legs[1].RouteSet {
				c.Legs[1].RouteSet[i] = strings.Repeat("r", maxActiveText)
			}
			c.Legs[0].NextCSeq = 1<<32 - 1
			return c
		}(),
	}
	for name, c := range tests {
		t.Run(name, func(t *testing.T) {
			if err := checkActiveCall(c); err != nil {
				t.Fatal(err)
			}
			v := encodeActiveCall(c)
			got, err := decodeActiveCall(v)
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, c) {
				t.Fatalf("decoded\n %+v\nwant %+v", got, c)
			}
			// Every strict prefix is refused, never misread.
			for i := range len(v) {
				if _, err := decodeActiveCall(v[:i]); !errors.Is(err, errBadActiveCall) {
					t.Fatalf("prefix of %d bytes: %v", i, err)
				}
			}
			if _, err := decodeActiveCall(append(bytes.Clone(v), 0)); !errors.Is(err, errBadActiveCall) {
				t.Fatalf("trailing byte: %v", err)
			}
		})
	}
}

// FuzzDecodeActiveCall: whatever the file holds, decoding never panics, and
// what it accepts encodes back to the same bytes (one encoding per record).
func FuzzDecodeActiveCall(f *testing.F) {
	f.Add(encodeActiveCall(testActiveCall("seed")))
	f.Add([]byte{activeCallVersion, 0, 0, 0, 0, 0, 0, 0, 1, 1, 'x', 0})
	f.Fuzz(func(t *testing.T, v []byte) {
		c, err := decodeActiveCall(v)
		if err != nil {
			return
		}
		if got := encodeActiveCall(c); !bytes.Equal(got, v) {
			t.Fatalf("re-encoded %x, read %x", got, v)
		}
	})
}

// TestActiveCallsWriteBehind counts transactions: short calls (put, then
// delete within the flush interval) write nothing; a thousand calls that
// outlive it cost one commit for their puts and one for their deletes, not
// a thousand fsyncs each.
func TestActiveCallsWriteBehind(t *testing.T) {
	ctx := context.Background()
	db := openTest(t, WithCallFlush(time.Hour)) // flushes only when asked
	commits := func() uint64 { return db.active.commits.Load() }

	for i := range 1000 {
		id := fmt.Sprintf("short%d", i)
		if err := db.PutActiveCall(ctx, testActiveCall(id)); err != nil {
			t.Fatal(err)
		}
		if err := db.DeleteActiveCall(ctx, id); err != nil {
			t.Fatal(err)
		}
	}
	if all, err := db.ActiveCalls(ctx); err != nil || len(all) != 0 {
		t.Fatalf("ActiveCalls after short calls = %d records, %v", len(all), err)
	}
	if n := commits(); n != 0 {
		t.Fatalf("1000 short calls made %d commits, want 0", n)
	}

	for i := range 1000 {
		if err := db.PutActiveCall(ctx, testActiveCall(fmt.Sprintf("long%d", i))); err != nil {
			t.Fatal(err)
		}
	}
	if all, err := db.ActiveCalls(ctx); err != nil || len(all) != 1000 {
		t.Fatalf("ActiveCalls = %d records, %v; want 1000", len(all), err)
	}
	for i := range 1000 {
		if err := db.DeleteActiveCall(ctx, fmt.Sprintf("long%d", i)); err != nil {
			t.Fatal(err)
		}
	}
	if all, err := db.ActiveCalls(ctx); err != nil || len(all) != 0 {
		t.Fatalf("ActiveCalls after the deletes = %d records, %v", len(all), err)
	}
	if n := commits(); n != 2 {
		t.Fatalf("1000 long calls made %d commits, want 2", n)
	}
}

// TestActiveCallsFlushOnTheirOwn: without a read forcing it, a queued
// record is on disk within the flush interval.
func TestActiveCallsFlushOnTheirOwn(t *testing.T) {
	db := openTest(t, WithCallFlush(time.Millisecond))
	c := testActiveCall("c1")
	if err := db.PutActiveCall(context.Background(), c); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 10*time.Second, "record committed", func() bool {
		var v []byte
		_ = db.bolt.View(func(tx *bolt.Tx) error {
			v = bytes.Clone(tx.Bucket(bucketActiveCalls).Get([]byte(c.ID)))
			return nil
		})
		return bytes.Equal(v, encodeActiveCall(c))
	})
}

// TestActiveCallsSurviveReopen: Close commits what is queued; after a
// reopen, a record of the previous run is deleted for real even when a put
// of the same ID and its delete fall into one interval (the store must know
// the record is on disk, or the pair would cancel out and leave it there).
func TestActiveCallsSurviveReopen(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "x.db")
	reopen := func() *DB {
		t.Helper()
		db, err := Open(path, WithCallFlush(time.Hour))
		if err != nil {
			t.Fatal(err)
		}
		return db
	}
	db := reopen()
	one, two := testActiveCall("c1"), testActiveCall("c2")
	for _, c := range []ActiveCall{one, two} {
		if err := db.PutActiveCall(ctx, c); err != nil {
			t.Fatal(err)
		}
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	if err := db.PutActiveCall(ctx, one); err == nil {
		t.Fatal("PutActiveCall after Close succeeded")
	}

	db = reopen()
	all, err := db.ActiveCalls(ctx)
	if err != nil || len(all) != 2 {
		t.Fatalf("after reopen: %d records, %v", len(all), err)
	}
	one.Legs[1].NextCSeq++
	if err := db.PutActiveCall(ctx, one); err != nil {
		t.Fatal(err)
	}
	if err := db.DeleteActiveCall(ctx, one.ID); err != nil {
		t.Fatal(err)
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}

	db = reopen()
	defer db.Close()
	all, err = db.ActiveCalls(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(all) != 1 || !reflect.DeepEqual(all[0], two) {
		t.Fatalf("after the second reopen: %+v, want only %s", all, two.ID)
	}
	if err := db.check(); err != nil {
		t.Fatal(err)
	}
}

// TestActiveCallsUnreadableRecord: a damaged record cannot end a call; it
// is reported by check, left out of ActiveCalls and removed, and the good
// ones still come back.
func TestActiveCallsUnreadableRecord(t *testing.T) {
	ctx := context.Background()
	db, err := Open(filepath.Join(t.TempDir(), "x.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	good := testActiveCall("good")
	if err := db.PutActiveCall(ctx, good); err != nil {
		t.Fatal(err)
	}
	damage := map[string][]byte{
		"garbled":  {1, 2, 3},
		"elsewise": encodeActiveCall(testActiveCall("other")), // under the wrong key
	}
	if err := db.bolt.Update(func(tx *bolt.Tx) error {
		for k, v := range damage {
			if err := tx.Bucket(bucketActiveCalls).Put([]byte(k), v); err != nil {
				return err
			}
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if err := db.check(); err == nil || !strings.Contains(err.Error(), "garbled") || !strings.Contains(err.Error(), "elsewise") {
		t.Fatalf("check = %v, want both damaged records named", err)
	}
	all, err := db.ActiveCalls(ctx)
	if err != nil || len(all) != 1 || all[0].ID != good.ID {
		t.Fatalf("ActiveCalls = %+v, %v; want only %s", all, err, good.ID)
	}
	if err := db.flushActive(); err != nil {
		t.Fatal(err)
	}
	if err := db.check(); err != nil {
		t.Fatalf("damaged records not removed: %v", err)
	}
}

// TestActiveCallsCrash kills a process that records and forgets calls and
// reopens its file: every record the child saw committed is there, every
// delete it saw committed holds, and every record decodes.
func TestActiveCallsCrash(t *testing.T) {
	if os.Getenv(crashEnv) != "" {
		t.Skip("in the crash child")
	}
	for round := range 3 {
		t.Run(fmt.Sprintf("round%d", round), func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "crash.db")
			put := map[string]bool{}
			deleted := map[string]bool{}
			deleting := map[string]bool{}
			want := 100 + round*150
			db := crashChild(t, "TestActiveCallsCrashChild", path, func(line string) bool {
				if f := strings.Fields(line); len(f) == 2 {
					switch f[0] {
					case "P":
						put[f[1]] = true
					case "d":
						deleting[f[1]] = true
					case "D":
						deleted[f[1]] = true
					}
				}
				return len(put)+len(deleted) >= want
			})
			if len(put) == 0 {
				t.Fatal("child acknowledged nothing")
			}
			all, err := db.ActiveCalls(context.Background())
			if err != nil {
				t.Fatal(err)
			}
			there := map[string]bool{}
			for _, c := range all {
				there[c.ID] = true
				if !reflect.DeepEqual(c, testActiveCall(c.ID)) {
					t.Errorf("record %s read back as %+v", c.ID, c)
				}
			}
			for id := range put {
				switch {
				case deleted[id] && there[id]:
					t.Errorf("call %s, deleted before the kill, is back", id)
				case !deleted[id] && !deleting[id] && !there[id]:
					t.Errorf("call %s, committed before the kill, is lost", id)
				}
			}
			t.Logf("%d puts and %d deletes acknowledged before SIGKILL; %d records after", len(put), len(deleted), len(all))
		})
	}
}

// TestActiveCallsCrashChild is the engine stand-in TestActiveCallsCrash
// kills: writers record calls and forget older ones while the flusher runs
// on its own; every so often a writer forces a commit and prints what is
// now durable ("P id", "D id"), and "d id" before it queues a delete, which
// the kill may then land on either side of.
func TestActiveCallsCrashChild(t *testing.T) {
	path := os.Getenv(crashEnv)
	if path == "" {
		t.Skip("run by TestActiveCallsCrash")
	}
	db, err := Open(path, WithCallFlush(time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	const writers = 4
	var (
		wg  sync.WaitGroup
		out sync.Mutex // one line per write(2), never interleaved
	)
	for w := range writers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var live []string
			for round := 0; round < 10_000; round++ { // bounded even if nobody kills it
				var fresh, gone []string
				for i := range 5 {
					id := fmt.Sprintf("w%dr%di%d", w, round, i)
					if err := db.PutActiveCall(ctx, testActiveCall(id)); err != nil {
						t.Error(err)
						return
					}
					fresh = append(fresh, id)
				}
				for len(live) > 8 {
					id := live[0]
					live = live[1:]
					out.Lock()
					fmt.Printf("d %s\n", id)
					out.Unlock()
					if err := db.DeleteActiveCall(ctx, id); err != nil {
						t.Error(err)
						return
					}
					gone = append(gone, id)
				}
				if err := db.flushActive(); err != nil {
					t.Error(err)
					return
				}
				out.Lock()
				for _, id := range fresh {
					fmt.Printf("P %s\n", id)
				}
				for _, id := range gone {
					fmt.Printf("D %s\n", id)
				}
				out.Unlock()
				live = append(live, fresh...)
			}
		}()
	}
	wg.Wait()
}
