package b2bua

import (
	"github.com/xbridge/xbridge/media"
	"github.com/xbridge/xbridge/sipedge"
)

// rewrite is the one way SDP crosses a call: the relay's rewrite (addresses,
// identifying lines) and then the number scrub with both parties' numbers.
// What it returns is remembered as the SDP last sent to the other side.
func (c *call) rewrite(from media.Side, sdp []byte) ([]byte, error) {
	return c.crossSDP(from, sdp, c.media.Rewrite)
}

// rewriteAnswer is rewrite for SDP known to answer the other side's latest
// (a mirrored request's 2xx): more m= lines than the offer are refused,
// and it takes no ports.
func (c *call) rewriteAnswer(from media.Side, sdp []byte) ([]byte, error) {
	return c.crossSDP(from, sdp, c.media.RewriteAnswer)
}

func (c *call) crossSDP(from media.Side, sdp []byte, relay func(media.Side, []byte) ([]byte, error)) ([]byte, error) {
	out, err := relay(from, sdp)
	if err != nil {
		return nil, err
	}
	c.noteSDP(from)
	out = sipedge.ScrubNumbers(out, c.numbers[:]...)
	c.sdpMu.Lock()
	c.sent[1-from] = out
	c.sdpMu.Unlock()
	return out, nil
}

// lastSent is the SDP last sent to side.
func (c *call) lastSent(side media.Side) []byte {
	c.sdpMu.Lock()
	defer c.sdpMu.Unlock()
	return c.sent[side]
}
