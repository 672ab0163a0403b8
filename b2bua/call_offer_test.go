package b2bua

import "testing"

// Offers by table: one offer/answer exchange at a time across both legs
// (RFC 3261 14.1, RFC 3311 5.2), in the style of TestCallStateTable.

// offerFrom is a re-INVITE (or UPDATE with SDP) of leg by with CSeq seq.
func offerFrom(by origin, seq uint32) event {
	kind := evARequest
	if by == byB {
		kind = evBRequest
	}
	return event{kind: kind, offer: true, cseq: seq}
}

// offerEnded is the end of the exchange of by's request seq.
func offerEnded(by origin, seq uint32) event {
	return event{kind: evOfferDone, by: by, cseq: seq}
}

func TestCallOfferTable(t *testing.T) {
	infoA := event{kind: evARequest}
	infoB := event{kind: evBRequest}
	cases := []struct {
		name  string
		steps []step
	}{
		{name: "overlapping offers from A: 491 until the first is answered", steps: then(toConfirmed,
			step{offerFrom(byA, 2), stateConfirmed, "", verdictMirror},
			step{offerFrom(byA, 3), stateConfirmed, "", verdictPending},
			step{offerFrom(byA, 4), stateConfirmed, "", verdictPending},
			step{offerEnded(byA, 2), stateConfirmed, "", 0},
			step{offerFrom(byA, 5), stateConfirmed, "", verdictMirror},
		)},
		{name: "glare: B's offer while A's is out gets 491, and the other way round", steps: then(toConfirmed,
			step{offerFrom(byA, 2), stateConfirmed, "", verdictMirror},
			step{offerFrom(byB, 101), stateConfirmed, "", verdictPending},
			step{offerEnded(byA, 2), stateConfirmed, "", 0},
			step{offerFrom(byB, 102), stateConfirmed, "", verdictMirror},
			step{offerFrom(byA, 3), stateConfirmed, "", verdictPending},
			step{offerEnded(byB, 102), stateConfirmed, "", 0},
			step{offerFrom(byA, 4), stateConfirmed, "", verdictMirror},
		)},
		{name: "INFO and offerless UPDATE cross while an offer is out", steps: then(toConfirmed,
			step{offerFrom(byB, 101), stateConfirmed, "", verdictMirror},
			step{infoA, stateConfirmed, "", verdictMirror},
			step{infoB, stateConfirmed, "", verdictMirror},
			step{offerFrom(byA, 2), stateConfirmed, "", verdictPending},
		)},
		{name: "only its own end clears an offer", steps: then(toConfirmed,
			step{offerFrom(byA, 3), stateConfirmed, "", verdictMirror},
			step{offerEnded(byA, 2), stateConfirmed, "", 0}, // an earlier one's late ACK
			step{offerEnded(byB, 3), stateConfirmed, "", 0}, // the other leg's CSeq 3
			step{offerFrom(byB, 101), stateConfirmed, "", verdictPending},
			step{offerEnded(byA, 3), stateConfirmed, "", 0},
			step{offerEnded(byA, 3), stateConfirmed, "", 0}, // twice changes nothing
			step{offerFrom(byB, 101), stateConfirmed, "", verdictMirror},
		)},
		{name: "an offer before A's ACK holds as well", steps: then(toRinging,
			step{answered, stateAnswered, "ACK B; A 200 relayed-b-sdp", 0},
			step{offerFrom(byB, 101), stateAnswered, "", verdictMirror},
			step{a2xxAcked, stateConfirmed, "", 0},
			step{offerFrom(byA, 2), stateConfirmed, "", verdictPending},
			step{offerEnded(byB, 101), stateConfirmed, "", 0},
			step{offerFrom(byA, 2), stateConfirmed, "", verdictMirror},
		)},
		{name: "offers before the answer and while ending: 491 and nothing held", steps: []step{
			{routed, stateBCalling, "INVITE B; timer answer-timeout", 0},
			{offerFrom(byB, 101), stateBCalling, "", verdictPending},
			{ringing, stateBRinging, "A 180", 0},
			{offerFrom(byA, 2), stateBRinging, "", verdictPending},
			{answered, stateAnswered, "ACK B; A 200 relayed-b-sdp", 0},
			{a2xxAcked, stateConfirmed, "", 0},
			{offerFrom(byA, 3), stateConfirmed, "", verdictMirror},
			{bBye, stateEnding, "BYE A", 0},
			{offerFrom(byB, 102), stateEnding, "", verdictPending},
			{offerEnded(byA, 3), stateEnding, "", 0},
			{legsClosed, stateEnded, "release (b)", 0},
		}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			rec := &recorder{}
			runSteps(t, tableCall(rec, false), rec, tc.steps)
		})
	}
}
