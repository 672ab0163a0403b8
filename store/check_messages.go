package store

import (
	"bytes"
	"encoding/json"
	"time"

	bolt "go.etcd.io/bbolt"
)

// checkMessages verifies the SMS relay's buckets: every binding in grace
// decodes under its own ID with its expiry key, no grace key or expiry
// dangles, every sender and inbox entry names a binding live or in grace,
// and every
// queued message has exactly its due key.
func checkMessages(tx *bolt.Tx, bad func(string, ...any)) {
	bk := buckets{tx: tx, bindings: tx.Bucket(bucketBindings)}
	g := bk.graceBuckets()
	_ = g.grace.ForEach(func(k, _ []byte) error {
		b, until, err := g.getGrace(k)
		switch {
		case err != nil:
			bad("grace %q: %v", k, err)
		case b.ID != string(k):
			bad("grace record under key %q has id %q", k, b.ID)
		case g.expiry.Get(timeKey(until, k)) == nil:
			bad("grace %s: no expiry key", k)
		}
		return nil
	})
	_ = g.keys.ForEach(func(k, v []byte) error {
		if g.grace.Get(v) == nil {
			bad("grace key %q -> %s, not in grace", k, v)
		}
		return nil
	})
	_ = g.expiry.ForEach(func(k, _ []byte) error {
		if len(k) <= 8 || g.grace.Get(k[8:]) == nil {
			bad("grace expiry %x: no binding in grace", k)
		}
		return nil
	})
	known := func(id []byte) bool { return bk.bindings.Get(id) != nil || g.grace.Get(id) != nil }
	_ = g.xSender.ForEach(func(k, v []byte) error {
		if len(v) <= 8 || !known(v[8:]) {
			bad("x_sender %q -> %q: no such binding", k, v)
		}
		return nil
	})
	_ = g.senderOf.ForEach(func(k, _ []byte) error {
		if id, _, ok := bytes.Cut(k, []byte{sep}); !ok || !known(id) {
			bad("sender_of %q: no such binding", k)
		}
		return nil
	})
	_ = tx.Bucket(bucketInbox).ForEach(func(k, _ []byte) error {
		if id, _, ok := bytes.Cut(k, []byte{sep}); !ok || !known(id) {
			bad("inbox %q: no such binding", k)
		}
		return nil
	})
	nums, own := tx.Bucket(bucketTrackNos), tx.Bucket(bucketBindingTracks)
	_ = nums.ForEach(func(k, v []byte) error {
		if !known(v) || own.Get(pairKey(nil, string(v), string(k))) == nil {
			bad("track_nos %q -> %q: no such binding or no binding_tracks entry", k, v)
		}
		return nil
	})
	_ = own.ForEach(func(k, _ []byte) error {
		if id, no, ok := bytes.Cut(k, []byte{sep}); !ok || !known(id) || !bytes.Equal(nums.Get(no), id) {
			bad("binding_tracks %q: no such binding, or the number names another", k)
		}
		return nil
	})
	msgs, due := tx.Bucket(bucketMessages), tx.Bucket(bucketMessageDue)
	_ = msgs.ForEach(func(k, v []byte) error {
		var m Message
		switch err := json.Unmarshal(v, &m); {
		case err != nil:
			bad("message %q: %v", k, err)
		case m.ID != string(k):
			bad("message under key %q has id %q", k, m.ID)
		case due.Get(timeKey(m.NextAt, k)) == nil:
			bad("message %s: no due key at %v", k, m.NextAt.Format(time.RFC3339Nano))
		}
		return nil
	})
	_ = due.ForEach(func(k, _ []byte) error {
		if len(k) <= 8 || msgs.Get(k[8:]) == nil {
			bad("sms_due %x: no message", k)
		}
		return nil
	})
}
