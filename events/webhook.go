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
	// BindingURLs are the prefixes a binding's own webhook URL may start
	// with to receive its events instead (signed with Secret); none: a
	// binding's URL is refused.
	BindingURLs []string
}

// Takes reports whether a binding's own URL may receive events in w's
// stead.
func (w Webhook) Takes(url string) bool {
	for _, p := range w.BindingURLs {
		if strings.HasPrefix(url, p) {
			return true
		}
	}
	return false
}

// For is w with a binding's own URL (override), where w takes it.
func (w Webhook) For(override string) Webhook {
	if override != "" && w.Takes(override) {
		w.URL = override
	}
	return w
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
	for _, p := range w.BindingURLs {
		// A prefix ends in its host's "/" at least, so that
		// https://platform.example does not also allow
		// https://platform.example.evil.
		rest, ok := strings.CutPrefix(p, "https://")
		if !ok {
			rest, ok = strings.CutPrefix(p, "http://")
		}
		if !ok || !strings.Contains(rest, "/") || strings.HasPrefix(rest, "/") {
			return fmt.Errorf("binding_urls %q: must be an http:// or https:// URL prefix with its host and a path (at least \"/\")", p)
		}
	}
	return nil
}
