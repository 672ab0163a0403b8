package b2bua

import (
	"testing"

	"github.com/emiago/sipgo/sip"
)

// TestByeRightBehind200 has B answer and hang up at once: its BYE leaves
// right behind its 200, so the engine may handle the BYE before the 200
// (each message runs on its own goroutine). Whatever the order, A gets the
// 200 and then a BYE, B gets its ACK and a 200 to its BYE, and the call
// leaves nothing behind. Run it many times to see both orders.
func TestByeRightBehind200(t *testing.T) {
	for i := 0; i < 20; i++ {
		c := newPrivacyCall(t, false)
		_, bInv := c.inviteB(false)
		c.trunkAnswer(bInv, 200, "OK", partySDP(partyB, 41000, 1, "sendrecv"))
		c.bCSeq++
		c.tr.send(c.te.addr, c.trunkRequest(sip.BYE, c.bCSeq).bytes())

		// The ACK and the 200 to the BYE may come in either order.
		var acked, byeOK bool
		c.tr.wait("ACK and 200 to BYE", func(m sip.Message) bool {
			switch m := m.(type) {
			case *sip.Request:
				acked = acked || m.Method == sip.ACK
			case *sip.Response:
				if cs := m.CSeq(); cs != nil && cs.MethodName == sip.BYE && m.StatusCode >= 200 {
					if m.StatusCode != 200 {
						t.Fatalf("B's BYE got %d", m.StatusCode)
					}
					byeOK = true
				}
			}
			return acked && byeOK
		})
		final := c.car.response(sip.INVITE, 1, 200)
		if final.StatusCode != 200 {
			t.Fatalf("A got %d, want the 200 B sent", final.StatusCode)
		}
		c.engineContact = final.Contact().Address.String()
		c.aToTag, _ = final.To().Params.Get("tag") // in-dialog requests carry it
		c.car.send(c.te.addr, c.carrierRequest(sip.ACK, c.engineContact, 1, "").bytes())
		bye := c.car.request(sip.BYE, true)
		c.carrierAnswer(bye, 200, "OK", "")
		c.te.waitIdle()
	}
}

// TestAckAndByeBackToBack has A hang up the moment it is answered: its ACK
// and BYE leave together and are handled on separate goroutines, so the BYE
// may be seen first. That is a normal hang-up, not a lost ACK: B gets one
// BYE, A's BYE gets 200, and the engine never sends A a BYE of its own.
func TestAckAndByeBackToBack(t *testing.T) {
	for i := 0; i < 20; i++ {
		c := newPrivacyCall(t, false)
		_, bInv := c.inviteB(false)
		c.trunkAnswer(bInv, 200, "OK", partySDP(partyB, 41000, 1, "sendrecv"))
		final := c.car.response(sip.INVITE, 1, 200)
		if final.StatusCode != 200 {
			t.Fatalf("A got %d", final.StatusCode)
		}
		c.engineContact = final.Contact().Address.String()
		c.aToTag, _ = final.To().Params.Get("tag") // in-dialog requests carry it
		c.car.send(c.te.addr, c.carrierRequest(sip.ACK, c.engineContact, 1, "").bytes())
		c.car.send(c.te.addr, c.carrierRequest(sip.BYE, c.engineContact, 2, "").bytes())
		if res := c.car.response(sip.BYE, 2, 200); res.StatusCode != 200 {
			t.Fatalf("A's BYE got %d", res.StatusCode)
		}
		c.trunkAnswer(c.tr.request(sip.BYE, true), 200, "OK", "")
		c.te.waitIdle()
		for _, d := range c.car.received() {
			if req, ok := d.msg.(*sip.Request); ok && req.Method == sip.BYE {
				t.Fatalf("round %d: the engine sent A a BYE after A hung up:\n%s", i, d.raw)
			}
		}
	}
}
