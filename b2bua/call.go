package b2bua

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"sync"
	"sync/atomic"
	"time"

	"github.com/emiago/sipgo"
	"github.com/emiago/sipgo/sip"
	"github.com/rs/zerolog"

	"github.com/xbridge/xbridge/media"
)

type callState int

const (
	stateSetup callState = iota // B leg not answered yet
	stateUp                     // both legs established
	stateEnded
)

// origin says who ended a call; the BYE goes to everyone else.
type origin int

const (
	byA origin = iota
	byB
	byEngine
)

func (o origin) String() string {
	switch o {
	case byA:
		return "a"
	case byB:
		return "b"
	}
	return "engine"
}

// call is one masked call: the A leg the carrier sent, the B leg the engine
// placed, and the relay session between them.
type call struct {
	e         *Engine
	log       zerolog.Logger
	aCallID   string
	bCallID   string
	bindingID string

	a     *sipgo.DialogServerSession
	b     *outboundLeg
	media *media.Session

	started  time.Time
	answered time.Time

	mu    sync.Mutex
	state callState
	// stop is closed when the call must end while still in setup (A
	// cancelled, binding ended, shutdown); stopCode is what A is told.
	stop       chan struct{}
	stopCode   int
	stopReason sip.Header
	endOnce    sync.Once
	// aAck carries the SDP of A's ACK to a late-offer setup waiting for it.
	aAck chan []byte
	// sent is the SDP last sent to each side (under mu): what an offerless
	// re-INVITE from that side is offered again.
	sent [2][]byte
	// aFinal is closed once A's INVITE has had its final response after B
	// answered; aAnswered says whether that was a 2xx. A BYE to A waits for
	// it: sipgo's WriteBye needs the 2xx in place, and a hangup racing the
	// answer (B's BYE right behind its 200) must not reach A before it.
	aFinal chan struct{}
	// bHungUp: B's BYE arrived before its 2xx was handled (under mu).
	bHungUp bool
	// aBye: A sent BYE; a setup still waiting for A's ACK is not failing.
	aBye       atomic.Bool
	aFinalOnce sync.Once
	aAnswered  atomic.Bool
}

// terminate ends the call from the engine's side: during setup A gets code
// and B is cancelled; once up, both legs get BYE carrying reason.
func (c *call) terminate(reason sip.Header, code int) {
	c.mu.Lock()
	switch c.state {
	case stateSetup:
		c.stopLocked(reason, code)
		c.mu.Unlock()
		return
	case stateEnded:
		c.mu.Unlock()
		return
	}
	c.mu.Unlock()
	c.hangup(byEngine, reason)
}

func (c *call) stopLocked(reason sip.Header, code int) {
	select {
	case <-c.stop:
	default:
		c.stopCode, c.stopReason = code, reason
		close(c.stop)
	}
}

// goUp moves the call from setup to up; false if it was stopped meanwhile.
func (c *call) goUp() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	select {
	case <-c.stop:
		return false
	default:
	}
	if c.state != stateSetup {
		return false
	}
	c.state = stateUp
	c.answered = time.Now()
	return true
}

// hangup ends an established call once: BYE to every leg but the one that
// hung up, relay closed, call forgotten.
func (c *call) hangup(by origin, reason sip.Header) {
	c.endOnce.Do(func() {
		c.mu.Lock()
		c.state = stateEnded
		c.mu.Unlock()

		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		var headers []sip.Header
		if reason != nil {
			headers = append(headers, reason)
		}
		var wg sync.WaitGroup
		if by != byA {
			wg.Add(1)
			go func() {
				defer wg.Done()
				if err := c.byeA(ctx, headers...); err != nil {
					c.log.Debug().Err(err).Msg("bye a leg")
				}
			}()
		}
		if by != byB {
			wg.Add(1)
			go func() {
				defer wg.Done()
				if err := c.b.bye(ctx, headers...); err != nil {
					c.log.Debug().Err(err).Msg("bye b leg")
				}
			}()
		}
		// The call leaves the table only once the BYEs are done: A's ACK
		// may still be on its way, and the BYE to A waits for it.
		wg.Wait()
		c.finish(by.String())
	})
}

// finish releases what the call holds; it runs exactly once per call,
// through hangup or at the end of a setup that never got answered.
func (c *call) finish(endedBy string) {
	c.e.calls.remove(c)
	c.e.releaseAdmission()
	c.media.Close()
	st := c.media.Stats()
	ev := c.log.Info().Str("ended_by", endedBy).Dur("duration", time.Since(c.started))
	if !c.answered.IsZero() {
		ev = ev.Dur("talk", time.Since(c.answered))
	}
	ev.Interface("media", st).Msg("call ended")
}

// aFinalSent records that A's INVITE has its final response.
func (c *call) aFinalSent(answered bool) {
	c.aFinalOnce.Do(func() {
		c.aAnswered.Store(answered)
		close(c.aFinal)
	})
}

// byeA sends BYE on the A leg, once A has its 2xx; an A that got a failure
// instead has no dialog to end.
func (c *call) byeA(ctx context.Context, headers ...sip.Header) error {
	select {
	case <-c.aFinal:
	case <-ctx.Done():
		return ctx.Err()
	}
	if !c.aAnswered.Load() {
		return nil
	}
	inv := c.a.InviteRequest
	target := inv.Contact().Address
	bye := sip.NewRequest(sip.BYE, target)
	bye.SetTransport(inv.Transport())
	c.e.fromListener(bye)
	for _, h := range headers {
		bye.AppendHeader(h)
	}
	return c.a.WriteBye(ctx, bye)
}

func newCallID() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}
