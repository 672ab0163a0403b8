package store

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"time"

	bolt "go.etcd.io/bbolt"
)

// The SMS grace period. A binding that expires leaves the live indexes
// like any other (its calls get 480 from the quarantine of its pairs), but
// when its pool has a grace period it is kept, whole, in grace until
// expires+grace, keyed for SMS by the same pairs it had live: its parties
// (x sep party), an AXE's extension (x sep sep ext) and an AXN's any-caller
// slot (x sep sep). Its pairs' quarantine lasts at least as long, so no one
// else is bound on them while a pickup code may still arrive. The senders
// who reached an AXE or AXN binding's A (callers, x_sender, sender_of) stay
// with it until the grace ends.
var (
	bucketGrace       = []byte("grace")        // id -> be64(until nanos) binding record
	bucketGraceKeys   = []byte("grace_keys")   // x sep party | x sep sep ext | x sep sep -> id
	bucketGraceExpiry = []byte("grace_expiry") // be64(until nanos) id -> ""
	// x_sender answers "whom did this sender last reach through X" for an
	// AXE courier's SMS; sender_of lets the binding's end remove its
	// entries.
	bucketXSender  = []byte("x_sender")  // x sep sender -> be64(at nanos) id
	bucketSenderOf = []byte("sender_of") // id sep sender -> ""
)

// graceBuckets are the buckets of the grace period, opened from bk.tx.
type graceBuckets struct {
	grace, keys, expiry, xSender, senderOf, callers *bolt.Bucket
}

func (bk buckets) graceBuckets() graceBuckets {
	return graceBuckets{
		grace:    bk.tx.Bucket(bucketGrace),
		keys:     bk.tx.Bucket(bucketGraceKeys),
		expiry:   bk.tx.Bucket(bucketGraceExpiry),
		xSender:  bk.tx.Bucket(bucketXSender),
		senderOf: bk.tx.Bucket(bucketSenderOf),
		callers:  bk.tx.Bucket(bucketCallers),
	}
}

// graceUntil is when b's SMS grace ends if it expires at now (its own
// grace, else its pool's); zero when it has none or it would already be
// over. The grace runs from
// the expiry, not from the sweep that noticed it.
func (db *DB) graceUntil(bk buckets, b Binding, now time.Time) time.Time {
	g := db.smsGraceOf(bk.poolSettings(b.Pool))
	switch s := b.Policy.SMSGraceSeconds; {
	case s == NoSMSGrace:
		return time.Time{}
	case s > 0:
		g = time.Duration(s) * time.Second
	}
	if g <= 0 {
		return time.Time{}
	}
	end := b.ExpiresAt
	if end.After(now) {
		end = now
	}
	if until := end.Add(g); until.After(now) {
		return until
	}
	return time.Time{}
}

// graceKeys are the keys b is found by in grace.
func graceKeys(b Binding) [][]byte {
	var keys [][]byte
	for _, p := range keyedParties(b) {
		if p != "" {
			keys = append(keys, pairKey(nil, b.X, p))
		}
	}
	switch b.Model {
	case ModelAXE:
		keys = append(keys, extQuarantineKey(nil, b.X, b.Extension))
	case ModelAXN:
		keys = append(keys, extQuarantineKey(nil, b.X, ""))
	}
	return keys
}

func (bk buckets) putGrace(b Binding, until time.Time) error {
	g := bk.graceBuckets()
	v := binary.BigEndian.AppendUint64(nil, uint64(until.UnixNano()))
	v = append(v, encodeBinding(b)...)
	if err := g.grace.Put([]byte(b.ID), v); err != nil {
		return err
	}
	if err := g.expiry.Put(timeKey(until, []byte(b.ID)), []byte{}); err != nil {
		return err
	}
	for _, k := range graceKeys(b) {
		if err := g.keys.Put(k, []byte(b.ID)); err != nil {
			return err
		}
	}
	return nil
}

// getGrace reads the binding id in grace, or ErrNotFound.
func (g graceBuckets) getGrace(id []byte) (Binding, time.Time, error) {
	v := g.grace.Get(id)
	if v == nil {
		return Binding{}, time.Time{}, ErrNotFound
	}
	if len(v) < 8 {
		return Binding{}, time.Time{}, fmt.Errorf("grace %s: %w", id, errBadRecord)
	}
	b, err := decodeBinding(v[8:])
	if err != nil {
		return Binding{}, time.Time{}, fmt.Errorf("grace %s: %w", id, err)
	}
	return b, unixNano(int64(binary.BigEndian.Uint64(v))), nil
}

// dropGrace ends b's grace: its record, its keys (those still its own)
// and the senders who reached it.
func (bk buckets) dropGrace(b Binding, until time.Time) error {
	g := bk.graceBuckets()
	id := []byte(b.ID)
	if err := g.grace.Delete(id); err != nil {
		return err
	}
	if err := g.expiry.Delete(timeKey(until, id)); err != nil {
		return err
	}
	for _, k := range graceKeys(b) {
		if bytes.Equal(g.keys.Get(k), id) {
			if err := g.keys.Delete(k); err != nil {
				return err
			}
		}
	}
	return bk.forgetBinding(b)
}

// forgetBinding removes what outlives a binding's calls and ends with it:
// its inbox, its tracking numbers, and who reached its A (so the next
// binding on X starts with nobody to call or text back).
func (bk buckets) forgetBinding(b Binding) error {
	if err := dropInbox(bk.tx, b.ID); err != nil {
		return err
	}
	if err := dropTrackNos(bk.tx, b.ID); err != nil {
		return err
	}
	if b.Model != ModelAXE && b.Model != ModelAXN {
		return nil
	}
	g := bk.graceBuckets()
	id := []byte(b.ID)
	if err := g.callers.Delete(id); err != nil {
		return err
	}
	prefix := prefixKey(b.ID)
	var senders [][]byte
	c := g.senderOf.Cursor()
	for k, _ := c.Seek(prefix); k != nil && bytes.HasPrefix(k, prefix); k, _ = c.Next() {
		senders = append(senders, bytes.Clone(k))
	}
	for _, k := range senders {
		xk := pairKey(nil, b.X, string(k[len(prefix):]))
		if v := g.xSender.Get(xk); len(v) > 8 && bytes.Equal(v[8:], id) {
			if err := g.xSender.Delete(xk); err != nil {
				return err
			}
		}
		if err := g.senderOf.Delete(k); err != nil {
			return err
		}
	}
	return nil
}

// noteSender records sender as the last one who reached b's A, at at.
func (bk buckets) noteSender(b Binding, sender string, at time.Time) error {
	g := bk.graceBuckets()
	id := []byte(b.ID)
	if err := g.callers.Put(id, timeKey(at, []byte(sender))); err != nil {
		return err
	}
	if err := g.xSender.Put(pairKey(nil, b.X, sender), timeKey(at, id)); err != nil {
		return err
	}
	return g.senderOf.Put(pairKey(nil, b.ID, sender), []byte{})
}

// sweepGrace ends the grace periods that are over, bounded like
// sweepExpired.
func (db *DB) sweepGrace(now time.Time) (int, bool, error) {
	var (
		n    int
		more bool
	)
	err := db.bolt.Update(func(tx *bolt.Tx) error {
		bk := bucketsOf(tx)
		g := bk.graceBuckets()
		var err error
		n, more, err = dueSlice(g.expiry, now, time.Now(), func(k []byte) error {
			if len(k) <= 8 {
				db.log.Warn().Hex("key", k).Msg("dropping malformed grace expiry key")
				return g.expiry.Delete(k)
			}
			b, until, err := g.getGrace(k[8:])
			if err != nil {
				db.log.Warn().Err(err).Hex("key", k).Msg("dropping dangling grace expiry key")
				return g.expiry.Delete(k)
			}
			return bk.dropGrace(b, until)
		})
		return err
	})
	if err != nil {
		return 0, false, fmt.Errorf("store: sweep grace: %w", err)
	}
	return n, more, nil
}

// GraceBinding implements Messages.
func (db *DB) GraceBinding(ctx context.Context, id string) (Binding, time.Time, error) {
	if err := ctx.Err(); err != nil {
		return Binding{}, time.Time{}, fmt.Errorf("store: grace binding: %w", err)
	}
	var (
		b     Binding
		until time.Time
	)
	err := db.bolt.View(func(tx *bolt.Tx) error {
		var err error
		b, until, err = buckets{tx: tx}.graceBuckets().getGrace([]byte(id))
		return err
	})
	if err != nil {
		return Binding{}, time.Time{}, fmt.Errorf("store: grace binding %s: %w", id, err)
	}
	return b, until, nil
}

// EndGrace implements Messages.
func (db *DB) EndGrace(ctx context.Context, id string) (Binding, error) {
	if err := ctx.Err(); err != nil {
		return Binding{}, fmt.Errorf("store: end grace: %w", err)
	}
	var b Binding
	err := db.write(func(tx *bolt.Tx) error {
		bk := bucketsOf(tx)
		var (
			until time.Time
			err   error
		)
		b, until, err = bk.graceBuckets().getGrace([]byte(id))
		if err != nil {
			return err
		}
		return bk.dropGrace(b, until)
	})
	if err != nil {
		return Binding{}, fmt.Errorf("store: end grace %s: %w", id, err)
	}
	return b, nil
}

// ResolveMessage implements Messages.
func (db *DB) ResolveMessage(ctx context.Context, x, sender string) (MessageResolution, error) {
	if err := ctx.Err(); err != nil {
		return MessageResolution{}, fmt.Errorf("store: resolve message: %w", err)
	}
	var res MessageResolution
	err := db.bolt.View(func(tx *bolt.Tx) error {
		res = MessageResolution{}
		bk := bucketsOf(tx)
		g := bk.graceBuckets()
		now := db.now()
		// found fills res from the live binding id, else the one in grace.
		found := func(m Match, id []byte) (bool, error) {
			b, err := bk.getBinding(id)
			if errors.Is(err, ErrNotFound) {
				var until time.Time
				if b, until, err = g.getGrace(id); err == nil {
					res.Grace, res.GraceUntil = true, until
				}
			}
			if errors.Is(err, ErrNotFound) {
				return false, nil
			}
			if err != nil {
				return false, err
			}
			res.Match, res.Binding, res.Pool = m, b, b.Pool
			res.Settings = bk.poolSettings(b.Pool)
			if b.Model == ModelAXE || b.Model == ModelAXN {
				res.LastSender, res.LastSenderAt = bk.lastCaller(id)
			}
			return true, nil
		}
		pair := pairKey(nil, x, sender)
		for _, id := range [][]byte{bk.xParty.Get(pair), g.keys.Get(pair)} {
			if id == nil {
				continue
			}
			if ok, err := found(MatchPair, id); ok || err != nil {
				return err
			}
		}
		pool, _ := parseNumberValue(bk.numbers.Get([]byte(x)))
		if pool == "" {
			return ErrNotFound
		}
		res.Pool = pool
		for _, id := range [][]byte{bk.xAny.Get([]byte(x)), g.keys.Get(extQuarantineKey(nil, x, ""))} {
			if id == nil {
				continue
			}
			if ok, err := found(MatchAnyCaller, id); ok || err != nil {
				return err
			}
		}
		if v := g.xSender.Get(pair); len(v) > 8 {
			if ok, err := found(MatchReached, v[8:]); ok || err != nil {
				return err
			}
		}
		res.Settings = bk.poolSettings(pool)
		prefix := prefixKey(x)
		if k, _ := bk.xExt.Cursor().Seek(prefix); k != nil && bytes.HasPrefix(k, prefix) {
			res.Match = MatchExtensions
			return nil
		}
		extPrefix := extQuarantineKey(nil, x, "")
		c := g.keys.Cursor()
		for k, _ := c.Seek(extPrefix); k != nil && bytes.HasPrefix(k, extPrefix); k, _ = c.Next() {
			if len(k) > len(extPrefix) {
				res.Match = MatchExtensions
				return nil
			}
		}
		if bk.quarantined(pair, now) {
			return ErrEnded
		}
		return ErrNotFound
	})
	if err != nil {
		return res, fmt.Errorf("store: resolve message x %s sender %s: %w", x, sender, err)
	}
	return res, nil
}

// MessageExtension implements Messages.
func (db *DB) MessageExtension(ctx context.Context, x, ext string) (MessageResolution, error) {
	if err := ctx.Err(); err != nil {
		return MessageResolution{}, fmt.Errorf("store: message extension: %w", err)
	}
	if len(x) > maxPoolNumber || ext == "" || len(ext) > maxExtension {
		return MessageResolution{}, fmt.Errorf("store: message x %s extension %s: %w", x, ext, ErrNotFound)
	}
	var res MessageResolution
	err := db.bolt.View(func(tx *bolt.Tx) error {
		res = MessageResolution{}
		bk := bucketsOf(tx)
		g := bk.graceBuckets()
		if id := bk.xExt.Get(extKey(nil, x, ext)); id != nil {
			b, err := bk.getBinding(id)
			if err != nil {
				return err
			}
			res.Binding = b
		} else if id := g.keys.Get(extQuarantineKey(nil, x, ext)); id != nil {
			b, until, err := g.getGrace(id)
			if err != nil {
				return err
			}
			res.Binding, res.Grace, res.GraceUntil = b, true, until
		} else {
			return ErrNotFound
		}
		res.Match, res.Pool = MatchPair, res.Binding.Pool
		res.Settings = bk.poolSettings(res.Binding.Pool)
		return nil
	})
	if err != nil {
		return res, fmt.Errorf("store: message x %s extension %s: %w", x, ext, err)
	}
	return res, nil
}

// NoteSender implements Messages.
func (db *DB) NoteSender(ctx context.Context, id, sender string, at time.Time) error {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("store: note sender: %w", err)
	}
	if err := checkNumber("sender", sender, minParty, maxParty); err != nil {
		return err
	}
	if id == "" || len(id) > maxIDLen {
		return fmt.Errorf("store: note sender on %q: %w", id, ErrNotFound)
	}
	return db.write(func(tx *bolt.Tx) error {
		bk := bucketsOf(tx)
		b, err := bk.getBinding([]byte(id))
		if errors.Is(err, ErrNotFound) {
			b, _, err = bk.graceBuckets().getGrace([]byte(id))
		}
		if err != nil {
			return fmt.Errorf("store: note sender on %s: %w", id, err)
		}
		if b.Model != ModelAXE && b.Model != ModelAXN {
			return invalidf("binding %s is %s; only AXE and AXN bindings keep who reached A", id, b.Model)
		}
		if sender == b.A {
			return invalidf("binding %s: its own A is not a sender to reply to", id)
		}
		return bk.noteSender(b, sender, at)
	})
}
