package store

import (
	"encoding/binary"
	"errors"
	"fmt"
	"time"
)

var errBadActiveCall = errors.New("store: malformed active-call record")

// ActiveCall is what an engine keeps of an answered call so that, after a
// crash, it can still end both legs: one in-dialog request per leg, built
// from this alone. The store treats every field as opaque text; what the
// strings mean is the engine's business.
type ActiveCall struct {
	// ID names the call; a second Put with the same ID replaces the record.
	ID        string
	BindingID string
	// RecordID is the call's call record, open until the call is released
	// (empty when the engine keeps no records): a restarted engine closes
	// it for a call the crash ended.
	RecordID string
	Legs     [2]DialogLeg
	// AnsweredAt is when the call was answered.
	AnsweredAt time.Time
}

// DialogLeg is one leg's dialog as seen from the engine, which is the UAS on
// one leg and the UAC on the other (RFC 3261 12.1).
type DialogLeg struct {
	CallID    string
	LocalTag  string
	RemoteTag string
	// LocalURI and RemoteURI are the addresses of the engine's requests'
	// From and To.
	LocalURI  string
	RemoteURI string
	// RemoteTarget is the peer's Contact: the Request-URI of the engine's
	// requests.
	RemoteTarget string
	// RouteSet is in the order the engine's requests carry it.
	RouteSet []string
	// NextCSeq is the CSeq number of the next request the engine sends.
	NextCSeq uint32
	// Transport is the transport the leg runs over ("UDP", "TCP").
	Transport string
	// Destination is the host:port the engine's requests are sent to.
	Destination string
}

// Limits on an active-call record: a record is one call's dialog state, a
// few hundred bytes; anything near these limits is not what an engine
// writes.
const (
	maxActiveText   = 2048 // any one string
	maxActiveRoutes = 16
)

// checkActiveCall refuses a record the store could not give back as it was
// put, naming the field.
func checkActiveCall(c ActiveCall) error {
	if c.ID == "" {
		return invalidf("active call id is required")
	}
	if len(c.ID) > maxActiveText || len(c.BindingID) > maxActiveText || len(c.RecordID) > maxActiveText {
		return invalidf("active call id, binding id and record id must be at most %d bytes", maxActiveText)
	}
	if c.AnsweredAt.IsZero() {
		return invalidf("active call %s: answered_at is required", c.ID)
	}
	for i, l := range c.Legs {
		if l.CallID == "" {
			return invalidf("active call %s: leg %d: call id is required", c.ID, i)
		}
		if len(l.RouteSet) > maxActiveRoutes {
			return invalidf("active call %s: leg %d: route set longer than %d", c.ID, i, maxActiveRoutes)
		}
		for _, s := range l.text() {
			if len(s) > maxActiveText {
				return invalidf("active call %s: leg %d: a field is longer than %d bytes", c.ID, i, maxActiveText)
			}
		}
		for _, r := range l.RouteSet {
			if len(r) > maxActiveText {
				return invalidf("active call %s: leg %d: a route is longer than %d bytes", c.ID, i, maxActiveText)
			}
		}
	}
	return nil
}

// text is the leg's fixed string fields in record order.
func (l *DialogLeg) text() [8]string {
	return [...]string{l.CallID, l.LocalTag, l.RemoteTag, l.LocalURI, l.RemoteURI, l.RemoteTarget, l.Transport, l.Destination}
}

// An active-call record is a version byte, the big-endian unix-nano answer
// time, length-prefixed strings (ID, binding ID and, from version 2, the
// record ID) and per leg: eight length-prefixed strings, the next CSeq and
// the route count as uvarints, then the routes. Version 1 records (written
// before call records) still decode, with no record ID.
const (
	activeCallV1      = 1
	activeCallVersion = 2
)

func encodeActiveCall(c ActiveCall) []byte {
	n := 1 + 8 + 3*binary.MaxVarintLen32 + len(c.ID) + len(c.BindingID) + len(c.RecordID)
	for i := range c.Legs {
		for _, s := range c.Legs[i].text() {
			n += binary.MaxVarintLen32 + len(s)
		}
		n += 2 * binary.MaxVarintLen32
		for _, r := range c.Legs[i].RouteSet {
			n += binary.MaxVarintLen32 + len(r)
		}
	}
	buf := make([]byte, 0, n)
	buf = append(buf, activeCallVersion)
	buf = binary.BigEndian.AppendUint64(buf, uint64(c.AnsweredAt.UnixNano()))
	buf = appendString(buf, c.ID)
	buf = appendString(buf, c.BindingID)
	buf = appendString(buf, c.RecordID)
	for i := range c.Legs {
		l := &c.Legs[i]
		for _, s := range l.text() {
			buf = appendString(buf, s)
		}
		buf = binary.AppendUvarint(buf, uint64(l.NextCSeq))
		buf = binary.AppendUvarint(buf, uint64(len(l.RouteSet)))
		for _, r := range l.RouteSet {
			buf = appendString(buf, r)
		}
	}
	return buf
}

func appendString(buf []byte, s string) []byte {
	buf = binary.AppendUvarint(buf, uint64(len(s)))
	return append(buf, s...)
}

// recordReader slices fields out of one string copy of a record.
type recordReader struct {
	s   string
	err error
}

func (r *recordReader) uint(limit uint64, what string) uint64 {
	if r.err != nil {
		return 0
	}
	n, k := uvarint(r.s)
	if k <= 0 || n > limit {
		r.err = fmt.Errorf("%w: %s", errBadActiveCall, what)
		return 0
	}
	r.s = r.s[k:]
	return n
}

func (r *recordReader) string(what string) string {
	n := r.uint(maxActiveText, what)
	if r.err != nil {
		return ""
	}
	if n > uint64(len(r.s)) {
		r.err = fmt.Errorf("%w: %s runs past the end", errBadActiveCall, what)
		return ""
	}
	out := r.s[:n]
	r.s = r.s[n:]
	return out
}

// decodeActiveCall copies v (which bbolt owns only for the transaction) into
// one string and slices every field out of it.
func decodeActiveCall(v []byte) (ActiveCall, error) {
	if len(v) < 9 || v[0] != activeCallV1 && v[0] != activeCallVersion {
		return ActiveCall{}, errBadActiveCall
	}
	answered := int64(binary.BigEndian.Uint64(v[1:]))
	r := recordReader{s: string(v[9:])}
	c := ActiveCall{AnsweredAt: unixNano(answered)}
	c.ID = r.string("id")
	c.BindingID = r.string("binding id")
	if v[0] == activeCallVersion {
		c.RecordID = r.string("record id")
	}
	for i := range c.Legs {
		l := &c.Legs[i]
		for _, f := range [...]*string{&l.CallID, &l.LocalTag, &l.RemoteTag, &l.LocalURI, &l.RemoteURI, &l.RemoteTarget, &l.Transport, &l.Destination} {
			*f = r.string("leg field")
		}
		l.NextCSeq = uint32(r.uint(1<<32-1, "cseq"))
		routes := r.uint(maxActiveRoutes, "route count")
		if routes > 0 {
			l.RouteSet = make([]string, routes)
			for j := range l.RouteSet {
				l.RouteSet[j] = r.string("route")
			}
		}
	}
	if r.err != nil {
		return ActiveCall{}, r.err
	}
	if r.s != "" {
		return ActiveCall{}, fmt.Errorf("%w: %d trailing bytes", errBadActiveCall, len(r.s))
	}
	return c, nil
}
