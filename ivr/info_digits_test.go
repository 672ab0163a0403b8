package ivr

import (
	"errors"
	"testing"
)

func TestDigitFromInfo(t *testing.T) {
	for _, tc := range []struct {
		ct, body string
		want     byte
		err      error
	}{
		{"application/dtmf-relay", "Signal=5\r\nDuration=160\r\n", '5', nil},
		{"application/dtmf-relay", "Signal= #\r\nDuration= 250", '#', nil},
		{"application/dtmf-relay", "signal=*\n", '*', nil},
		{"Application/DTMF-Relay; charset=utf-8", "Duration=100\r\nSignal=9\r\n", '9', nil},
		{"application/dtmf-relay", "Signal=11\r\nDuration=160", '#', nil},
		{"application/dtmf-relay", "Signal=10", '*', nil},
		{"application/dtmf-relay", "Signal=a", 'A', nil},
		{"application/dtmf", "7", '7', nil},
		{"application/dtmf", " 0\r\n", '0', nil},
		{"application/dtmf", "Signal=3", '3', nil},
		{"application/dtmf", "15", 'D', nil},
		{"application/dtmf-relay", "Duration=160", 0, ErrBadDigit},
		{"application/dtmf-relay", "Signal=16", 0, ErrBadDigit},
		{"application/dtmf-relay", "Signal=55", 0, ErrBadDigit},
		{"application/dtmf", "", 0, ErrBadDigit},
		{"application/dtmf", "x", 0, ErrBadDigit},
		{"application/sdp", "v=0", 0, ErrNotDigits},
		{"text/plain", "5", 0, ErrNotDigits},
		{"", "5", 0, ErrNotDigits},
		{"application/dtmf-relay", "Signal=1\r\n" + string(make([]byte, 300)), 0, ErrBadDigit},
	} {
		got, err := DigitFromInfo(tc.ct, []byte(tc.body))
		if !errors.Is(err, tc.err) || got != tc.want {
			t.Errorf("%q %q: %q, %v; want %q, %v", tc.ct, tc.body, got, err, tc.want, tc.err)
		}
	}
}

func FuzzDigitFromInfo(f *testing.F) {
	f.Add("application/dtmf-relay", []byte("Signal=5\r\nDuration=160\r\n"))
	f.Add("application/dtmf", []byte("#"))
	f.Fuzz(func(t *testing.T, ct string, body []byte) {
		k, err := DigitFromInfo(ct, body)
		if err != nil {
			if k != 0 {
				t.Fatalf("key %q with error %v", k, err)
			}
			return
		}
		if _, ok := normalKey(k); !ok || (k >= 'a' && k <= 'd') {
			t.Fatalf("key %q is not a DTMF key", k)
		}
	})
}
