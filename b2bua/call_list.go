package b2bua

import (
	"slices"
	"strings"
	"time"

	"github.com/emiago/sipgo/sip"
)

// CallInfo is what the engine tells an operator about one call in its
// table: the fields a call fixes when it is made, and whether and since
// when it is answered. It is read without stopping the call.
type CallInfo struct {
	ACallID   string
	BCallID   string
	BindingID string
	X         string
	Caller    string
	Callee    string
	Started   time.Time
	Answered  time.Time // zero while the call is being set up
}

// Calls lists the calls in the table, oldest first.
func (e *Engine) Calls() []CallInfo {
	out := e.calls.infos()
	slices.SortFunc(out, func(a, b CallInfo) int {
		if c := a.Started.Compare(b.Started); c != 0 {
			return c
		}
		return strings.Compare(a.ACallID, b.ACallID)
	})
	return out
}

// info is what Calls shows of c; the table's lock is held.
func (c *call) info() CallInfo {
	info := CallInfo{
		ACallID: c.aCallID, BCallID: c.bCallID, BindingID: c.bindingID, X: c.x,
		Caller: c.numbers[0], Callee: c.numbers[1], Started: c.started,
	}
	if up := c.upSince.Load(); up != 0 {
		info.Answered = time.Unix(0, up)
	}
	return info
}

// HangUp ends the call whose A or B leg has Call-ID callID, as the engine:
// an answered call gets a BYE on both legs with Reason Q.850 cause 16
// (normal clearing) and text, a call being set up is cancelled and A told
// 487. False if no such call is in the table.
func (e *Engine) HangUp(callID, text string) bool {
	c := e.calls.get(callID)
	if c == nil {
		return false
	}
	reason := sip.NewHeader("Reason", `Q.850;cause=16;text="`+text+`"`)
	c.log.Info().Str("reason", text).Msg("call hung up through the API")
	go c.terminate(reason, sip.StatusRequestTerminated)
	return true
}
