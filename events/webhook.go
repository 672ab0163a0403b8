package events

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// Webhook is a receiver of events.
type Webhook struct {
	URL string
	// Secret signs every delivery (SignatureHeader); empty sends unsigned.
	Secret string
	// Batch is the most events one POST carries, as {"events":[...]}; 0 or
	// 1 sends each event alone as its own JSON object.
	Batch int
	// Concurrency is how many POSTs may be in flight to this URL at once
	// (default DefaultConcurrency).
	Concurrency int
	// Timeout bounds one POST (default DefaultTimeout).
	Timeout time.Duration
}

// Defaults of a Webhook.
const (
	DefaultConcurrency = 4
	DefaultTimeout     = 5 * time.Second
	// MaxBatch is the largest Batch.
	MaxBatch = 1000
)

// SignatureHeader carries "t=<unix seconds>,v1=<hex HMAC-SHA256 of
// "<t>.<body>" keyed with the secret>", the scheme Stripe's and Twilio's
// receivers already verify: the time in the signed text lets a receiver
// refuse replays older than its tolerance.
const SignatureHeader = "X-Xbridge-Signature"

// EventIDHeader names the event a single-event POST carries.
const EventIDHeader = "X-Xbridge-Event-Id"

// Sign returns the SignatureHeader value for body sent at t.
func Sign(secret string, t time.Time, body []byte) string {
	ts := strconv.FormatInt(t.Unix(), 10)
	return "t=" + ts + ",v1=" + hex.EncodeToString(mac(secret, ts, body))
}

func mac(secret, ts string, body []byte) []byte {
	m := hmac.New(sha256.New, []byte(secret))
	m.Write([]byte(ts))
	m.Write([]byte{'.'})
	m.Write(body)
	return m.Sum(nil)
}

// Errors of Verify.
var (
	ErrNoSignature  = errors.New("events: no signature")
	ErrBadSignature = errors.New("events: signature does not match")
	ErrStale        = errors.New("events: signature too old")
)

// Verify checks a SignatureHeader value against body, as a receiver does:
// the signature must match and its time be within tolerance of now.
func Verify(secret, header string, body []byte, now time.Time, tolerance time.Duration) error {
	var ts string
	var sigs [][]byte
	for _, part := range strings.Split(header, ",") {
		k, v, ok := strings.Cut(strings.TrimSpace(part), "=")
		if !ok {
			continue
		}
		switch k {
		case "t":
			ts = v
		case "v1":
			if b, err := hex.DecodeString(v); err == nil {
				sigs = append(sigs, b)
			}
		}
	}
	if ts == "" || len(sigs) == 0 {
		return ErrNoSignature
	}
	sec, err := strconv.ParseInt(ts, 10, 64)
	if err != nil {
		return fmt.Errorf("%w: time %q", ErrBadSignature, ts)
	}
	want := mac(secret, ts, body)
	matched := false
	for _, s := range sigs {
		if hmac.Equal(s, want) {
			matched = true
		}
	}
	if !matched {
		return ErrBadSignature
	}
	if d := now.Sub(time.Unix(sec, 0)); d > tolerance || d < -tolerance {
		return ErrStale
	}
	return nil
}

// Check reports what is wrong with w, naming the field.
func (w Webhook) Check() error {
	switch {
	case w.URL == "":
		return errors.New("url is required")
	case !strings.HasPrefix(w.URL, "http://") && !strings.HasPrefix(w.URL, "https://"):
		return fmt.Errorf("url %q: must be http:// or https://", w.URL)
	case w.Batch < 0 || w.Batch > MaxBatch:
		return fmt.Errorf("batch %d: must be 0 to %d", w.Batch, MaxBatch)
	case w.Concurrency < 0 || w.Concurrency > 64:
		return fmt.Errorf("concurrency %d: must be 0 to 64", w.Concurrency)
	case w.Timeout < 0:
		return fmt.Errorf("timeout %v: must not be negative", w.Timeout)
	}
	return nil
}
