package b2bua

import (
	"testing"

	"github.com/emiago/sipgo/sip"
)

// orderTx is a server transaction that notes, when its response goes,
// what the call had been told by then.
type orderTx struct {
	sip.ServerTransaction // nil: only Respond is called
	c                     *call
	queued                []event
}

func (tx *orderTx) Respond(*sip.Response) error {
	for len(tx.c.events) > 0 {
		tx.queued = append(tx.queued, <-tx.c.events)
	}
	return nil
}

// TestInfoKeyReachesCallBeforeItsOK: a courier's phone sends its next
// INFO once the last is answered, and sipgo runs every request on its own
// goroutine, so a key must be the call's before its 200 goes, or keys
// reach the menu out of order (the flake "trunk expects INVITE: nothing
// received" in the AXE traces under CI load was 1234 heard as 1243).
func TestInfoKeyReachesCallBeforeItsOK(t *testing.T) {
	te, _ := newIVREngine(t)
	c := tableCall(&recorder{}, false)
	c.ivr = &ivrSIP{}

	req := sip.NewRequest(sip.INFO, sip.Uri{User: numX, Host: "127.0.0.1"})
	req.AppendHeader(sip.NewHeader("Content-Type", "application/dtmf-relay"))
	req.SetBody([]byte("Signal=5\r\nDuration=160\r\n"))
	tx := &orderTx{c: c}
	te.engine.engineAnswers(c, req, tx)

	if len(tx.queued) != 1 || tx.queued[0].kind != evDigit || tx.queued[0].digit != '5' {
		t.Fatalf("when the 200 went the call had %v, want the key 5", tx.queued)
	}
}
