package events

import (
	"strconv"
	"time"
	"unicode/utf8"
)

// An event body is written by hand, not by encoding/json: at 1,500 calls/s
// through the load script, json.Marshal of the four bodies of each call
// was 5.1% of the engine's CPU (perf, docs/PERFORMANCE.md, issue 7);
// BenchmarkCallEvents (one answered call's four events) went from 22.7 µs
// and 97 allocations to 9.7 µs and 33. TestPayloadJSONMatches holds the output byte for byte to what
// json.Marshal makes of Payload, so the two cannot drift apart.

// appendPayload appends p's JSON, as json.Marshal(p) writes it.
func appendPayload(b []byte, p *Payload) []byte {
	b = append(b, `{"id":`...)
	b = appendString(b, p.ID)
	b = append(b, `,"type":`...)
	b = appendString(b, p.Type)
	b = append(b, `,"at":`...)
	b = appendTime(b, time.Time(p.At))
	b = append(b, `,"call":`...)
	b = appendRecordView(b, &p.Call)
	return append(b, '}')
}

func appendRecordView(b []byte, v *RecordView) []byte {
	b = append(b, `{"record_id":`...)
	b = appendString(b, v.RecordID)
	b = optString(b, `,"binding_id":`, v.BindingID)
	b = optString(b, `,"model":`, v.Model)
	b = optString(b, `,"order_id":`, v.OrderID)
	b = optString(b, `,"user_data":`, v.UserData)
	b = optString(b, `,"pool":`, v.Pool)
	b = append(b, `,"x":`...)
	b = appendString(b, v.X)
	b = optString(b, `,"extension":`, v.Extension)
	b = append(b, `,"caller":`...)
	b = appendString(b, v.Caller)
	b = optString(b, `,"caller_role":`, v.CallerRole)
	b = optString(b, `,"callee":`, v.Callee)
	b = optString(b, `,"callee_role":`, v.CalleeRole)
	b = optString(b, `,"display":`, v.Display)
	b = append(b, `,"a_call_id":`...)
	b = appendString(b, v.ACallID)
	b = optString(b, `,"b_call_id":`, v.BCallID)
	for _, t := range [...]struct {
		name string
		at   Time
	}{{`,"invited_at":`, v.InvitedAt}, {`,"b_sent_at":`, v.BSentAt}, {`,"ringing_at":`, v.RingingAt},
		{`,"answered_at":`, v.AnsweredAt}, {`,"released_at":`, v.ReleasedAt}} {
		b = append(b, t.name...)
		b = appendTime(b, time.Time(t.at))
	}
	b = append(b, `,"ring_seconds":`...)
	b = strconv.AppendFloat(b, v.RingSecs, 'f', -1, 64)
	b = append(b, `,"talk_seconds":`...)
	b = strconv.AppendFloat(b, v.TalkSecs, 'f', -1, 64)
	b = optString(b, `,"released_by":`, v.ReleasedBy)
	if v.Status != 0 {
		b = append(b, `,"status":`...)
		b = strconv.AppendInt(b, int64(v.Status), 10)
	}
	if v.Q850 != 0 {
		b = append(b, `,"q850":`...)
		b = strconv.AppendInt(b, int64(v.Q850), 10)
	}
	b = optString(b, `,"reason_text":`, v.ReasonText)
	b = optString(b, `,"outcome":`, v.Outcome)
	b = optString(b, `,"hook":`, v.Hook)
	b = optString(b, `,"recording":`, v.Recording)
	b = optString(b, `,"recording_note":`, v.RecordingNote)
	return append(b, '}')
}

// optString is an omitempty string field.
func optString(b []byte, name, s string) []byte {
	if s == "" {
		return b
	}
	b = append(b, name...)
	return appendString(b, s)
}

// appendTime is Time.MarshalJSON: null for the zero time.
func appendTime(b []byte, t time.Time) []byte {
	if t.IsZero() {
		return append(b, "null"...)
	}
	b = append(b, '"')
	b = appendUTCMilli(b, t)
	return append(b, '"')
}

// appendUTCMilli appends t in UTC as timeLayout does. Every event body
// carries six times; AppendFormat, which reads its layout afresh each time,
// was half of a body's cost (BenchmarkCallPipeline: 5 µs of a call's
// 10 µs of bodies, docs/PERFORMANCE.md). TestAppendUTCMilli holds the two
// equal.
func appendUTCMilli(b []byte, t time.Time) []byte {
	t = t.UTC()
	year, month, day := t.Date()
	if year < 0 || year > 9999 {
		return t.AppendFormat(b, timeLayout)
	}
	hour, minute, sec := t.Clock()
	b = appendDigits(b, year, 4)
	b = append(b, '-')
	b = appendDigits(b, int(month), 2)
	b = append(b, '-')
	b = appendDigits(b, day, 2)
	b = append(b, 'T')
	b = appendDigits(b, hour, 2)
	b = append(b, ':')
	b = appendDigits(b, minute, 2)
	b = append(b, ':')
	b = appendDigits(b, sec, 2)
	b = append(b, '.')
	b = appendDigits(b, t.Nanosecond()/int(time.Millisecond), 3)
	return append(b, 'Z')
}

// appendDigits appends the n lowest decimal digits of v (v >= 0), zero
// padded.
func appendDigits(b []byte, v, n int) []byte {
	var buf [4]byte
	for i := n - 1; i >= 0; i-- {
		buf[i] = byte('0' + v%10)
		v /= 10
	}
	return append(b, buf[:n]...)
}

const hexDigits = "0123456789abcdef"

// appendString quotes s as encoding/json does: HTML-safe (<, > and &
// escaped), invalid UTF-8 replaced by U+FFFD, U+2028 and U+2029 escaped.
func appendString(b []byte, s string) []byte {
	b = append(b, '"')
	start := 0
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			if c >= 0x20 && c != '"' && c != '\\' && c != '<' && c != '>' && c != '&' {
				i++
				continue
			}
			b = append(b, s[start:i]...)
			switch c {
			case '"', '\\':
				b = append(b, '\\', c)
			case '\n':
				b = append(b, '\\', 'n')
			case '\r':
				b = append(b, '\\', 'r')
			case '\t':
				b = append(b, '\\', 't')
			case '\b':
				b = append(b, '\\', 'b')
			case '\f':
				b = append(b, '\\', 'f')
			default:
				b = append(b, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xf])
			}
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			b = append(b, s[start:i]...)
			b = append(b, `\ufffd`...)
			i += size
			start = i
			continue
		}
		if r == '\u2028' || r == '\u2029' {
			b = append(b, s[start:i]...)
			b = append(b, '\\', 'u', '2', '0', '2', hexDigits[r&0xf])
			i += size
			start = i
			continue
		}
		i += size
	}
	b = append(b, s[start:]...)
	return append(b, '"')
}

// appendBatch writes {"events":[...]} around bodies, which are JSON this
// package wrote (json.Marshal would parse and compact each again).
func appendBatch(b []byte, bodies [][]byte) []byte {
	b = append(b, `{"events":[`...)
	for i, body := range bodies {
		if i > 0 {
			b = append(b, ',')
		}
		b = append(b, body...)
	}
	return append(b, "]}"...)
}
