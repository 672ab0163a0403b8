package store

import (
	"bytes"
	"context"
	"fmt"
	"strings"
	"time"

	bolt "go.etcd.io/bbolt"
)

// QuarantinedPair is one released (X, party) pair or (X, extension) still in
// its cool-down: no binding may take it until Until.
type QuarantinedPair struct {
	X         string    `json:"x"`
	Party     string    `json:"party,omitempty"`
	Extension string    `json:"extension,omitempty"`
	Until     time.Time `json:"until"`
}

// Cursor is where a page of QuarantinedPairs that ended with p resumes:
// "x/party" or "x/#extension".
func (p QuarantinedPair) Cursor() string {
	if p.Extension != "" {
		return p.X + "/#" + p.Extension
	}
	return p.X + "/" + p.Party
}

// quarantineCursor reads a Cursor back into the quarantine key it names.
func quarantineCursor(after string) (x string, key []byte, err error) {
	if after == "" {
		return "", nil, nil
	}
	x, rest, ok := strings.Cut(after, "/")
	if !ok || x == "" || rest == "" || !isDigits(x) {
		return "", nil, invalidf("quarantine cursor %q is not x/party or x/#extension", after)
	}
	if ext, isExt := strings.CutPrefix(rest, "#"); isExt {
		if ext == "" || !isDigits(ext) {
			return "", nil, invalidf("quarantine cursor %q is not x/party or x/#extension", after)
		}
		return x, append(append(prefixKey(x), sep), ext...), nil
	}
	if !isDigits(rest) {
		return "", nil, invalidf("quarantine cursor %q is not x/party or x/#extension", after)
	}
	return x, pairKey(nil, x, rest), nil
}

// QuarantinedPairs lists up to limit pairs of pool's numbers in their
// cool-down (0: the default 1000), in (X, key) order, starting after the
// cursor after ("" for the first page; QuarantinedPair.Cursor of the last
// one for the next). Pairs whose cool-down has passed but that the sweeper
// has not purged yet are left out.
func (db *DB) QuarantinedPairs(ctx context.Context, pool, after string, limit int) ([]QuarantinedPair, error) {
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("store: quarantined pairs: %w", err)
	}
	if limit < 0 {
		return nil, invalidf("limit %d is negative", limit)
	}
	if limit == 0 {
		limit = defaultLimit
	}
	afterX, afterKey, err := quarantineCursor(after)
	if err != nil {
		return nil, err
	}
	now := db.now()
	out := []QuarantinedPair{}
	err = db.bolt.View(func(tx *bolt.Tx) error {
		bk := bucketsOf(tx)
		if bk.pools.Get([]byte(pool)) == nil {
			return ErrNotFound
		}
		prefix := prefixKey(pool)
		nc := bk.poolNumbers.Cursor()
		for k, _ := nc.Seek(pairKey(nil, pool, afterX)); k != nil && bytes.HasPrefix(k, prefix); k, _ = nc.Next() {
			x := string(k[len(prefix):])
			done, err := quarantinedOf(bk.quarantine, x, afterX, afterKey, now, limit, &out)
			if err != nil || done {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("store: pool %q quarantined pairs: %w", pool, err)
	}
	return out, nil
}

// quarantinedOf appends x's pairs in their cool-down to out, those after
// afterKey when x is the cursor's number; done once out holds limit.
func quarantinedOf(q *bolt.Bucket, x, afterX string, afterKey []byte, now time.Time, limit int, out *[]QuarantinedPair) (bool, error) {
	xp := prefixKey(x)
	c := q.Cursor()
	k, v := c.Seek(xp)
	if x == afterX {
		k, v = c.Seek(afterKey)
		if k != nil && bytes.Equal(k, afterKey) {
			k, v = c.Next()
		}
	}
	for ; k != nil && bytes.HasPrefix(k, xp); k, v = c.Next() {
		until, ok := timeOfKey(v)
		if !ok {
			return false, fmt.Errorf("malformed quarantine entry %q", k)
		}
		if !until.After(now) {
			continue
		}
		p := QuarantinedPair{X: x, Until: until}
		if rest := k[len(xp):]; len(rest) > 0 && rest[0] == sep {
			p.Extension = string(rest[1:])
		} else {
			p.Party = string(rest)
		}
		*out = append(*out, p)
		if len(*out) == limit {
			return true, nil
		}
	}
	return false, nil
}
