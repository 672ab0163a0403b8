package sipedge

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
		return number.Trunk{}, fmt.Errorf("sipedge: trunk number format: %w", err)
	}
	return *t, nil
}

// trunkURI is a SIP URI towards the trunk side for user, a number already
// written in the trunk's style (Edge.numbers), with user=phone when the
// trunk wants it. Port 0 leaves the port out.
func (e *Edge) trunkURI(user, host string, port int) sip.Uri {
	u := sip.Uri{Scheme: "sip", User: user, Host: host, Port: port, UriParams: sip.NewParams()}
	if e.numbers.UserPhone {
		u.UriParams = params("user", "phone")
	}
	return u
}
