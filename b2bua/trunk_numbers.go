package b2bua

import (
	"fmt"

	"github.com/emiago/sipgo/sip"

	"github.com/xbridge/xbridge/number"
)

// trunkNumbers is the configured trunk number format, checked, or the
// default.
func trunkNumbers(t *number.Trunk) (number.Trunk, error) {
	if t == nil {
		return number.DefaultTrunk(), nil
	}
	if err := t.Check(); err != nil {
		return number.Trunk{}, fmt.Errorf("b2bua: trunk number format: %w", err)
	}
	return *t, nil
}

// trunkURI is a SIP URI towards the trunk side for user, a number already
// written in the trunk's style (Engine.numbers), with user=phone when the
// trunk wants it. Port 0 leaves the port out.
func (e *Engine) trunkURI(user, host string, port int) sip.Uri {
	u := sip.Uri{Scheme: "sip", User: user, Host: host, Port: port, UriParams: sip.NewParams()}
	if e.numbers.UserPhone {
		u.UriParams = params("user", "phone")
	}
	return u
}

// calleeDigits is B's number as the B leg's Request-URI carries it, for
// scrubNumbers: whatever the trunk's style and tech prefix, the user part
// ends in B's national significant number, and scrubNumbers matches on the
// trailing digits. (Normalising it would fail for a tech prefix and misread
// a national number of another country.)
func calleeDigits(user string) string {
	b := make([]byte, 0, len(user))
	for i := 0; i < len(user); i++ {
		if c := user[i]; c >= '0' && c <= '9' {
			b = append(b, c)
		}
	}
	return string(b)
}
