package b2bua

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/emiago/sipgo/sip"
	"github.com/rs/zerolog"

	"github.com/xbridge/xbridge/events"
	"github.com/xbridge/xbridge/sipedge"
	"github.com/xbridge/xbridge/store"
)

// A crash leaves no call open: the calls a previous run recorded as
// answered (call_persist.go) and never forgot were up when it died. Their
// parties still hold dialogs that nobody will ever end, so a starting engine
// sends a BYE on both legs of each, built from the record alone, and
// forgets the record.

// reasonRestarted is the Reason of those BYEs.
const reasonRestarted = `SIP;cause=500;text="engine restarted"`

const (
	// leftoverByeTimeout bounds one leftover BYE: a peer that never
	// answers costs this, in the background, and no more.
	leftoverByeTimeout = 4 * time.Second
	// leftoverParallel is how many leftover calls are ended at once.
	leftoverParallel = 16
	// leftoverReadTimeout bounds reading the records at start.
	leftoverReadTimeout = 5 * time.Second
	// leftoverCSeqLeap is added to a leg's recorded next CSeq. The record
	// is refreshed when the engine sends in the dialog, but a refresh in
	// the store's last flush interval before the crash may be lost, and a
	// BYE with a CSeq the peer has already seen gets 500 (RFC 3261
	// 12.2.2); a leap is always allowed.
	leftoverCSeqLeap = 100
)

// leftoverCalls reads the calls the previous run left up. Serve reads them
// before it listens, so no call of this run is among them.
func (e *Engine) leftoverCalls(ctx context.Context) []store.ActiveCall {
	ctx, cancel := context.WithTimeout(ctx, leftoverReadTimeout)
	defer cancel()
	calls, err := e.store.ActiveCalls(ctx)
	if err != nil {
		e.log.Error().Err(err).Msg("calls left up by the previous run not read; their parties get no BYE")
		return nil
	}
	if len(calls) > 0 {
		e.log.Warn().Int("calls", len(calls)).Msg("ending calls left up by the previous run")
	}
	return calls
}

// endLeftovers ends the leftover calls in the background; the returned
// function waits for it. A record is forgotten once both BYEs have an
// answer or have timed out; one whose BYEs were cut short by ctx stays for
// the next start.
func (e *Engine) endLeftovers(ctx context.Context, calls []store.ActiveCall) (wait func()) {
	if len(calls) == 0 {
		return func() {}
	}
	var wg sync.WaitGroup
	sem := make(chan struct{}, leftoverParallel)
	wg.Add(1)
	go func() {
		defer wg.Done()
		for _, c := range calls {
			select {
			case sem <- struct{}{}:
			case <-ctx.Done():
				return
			}
			wg.Add(1)
			go func() {
				defer wg.Done()
				defer func() { <-sem }()
				e.endLeftover(ctx, c)
			}()
		}
	}()
	return wg.Wait
}

// endLeftover sends BYE on both legs of one leftover call at once.
func (e *Engine) endLeftover(ctx context.Context, c store.ActiveCall) {
	log := e.log.With().Str("call_id", c.Legs[0].CallID).Str("b_call_id", c.Legs[1].CallID).
		Str("binding_id", c.BindingID).Logger()
	var (
		wg     sync.WaitGroup
		status [2]int
		errs   [2]error
	)
	for i, leg := range c.Legs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			status[i], errs[i] = e.byeLeftover(ctx, leg)
		}()
	}
	wg.Wait()
	ev := log.Info()
	if errs[0] != nil || errs[1] != nil {
		ev = log.Warn().AnErr("a_error", errs[0]).AnErr("b_error", errs[1])
	}
	ev.Int("a_status", status[0]).Int("b_status", status[1]).Time("answered_at", c.AnsweredAt).
		Msg("call left up by the previous run ended")
	if ctx.Err() != nil {
		return
	}
	dctx, cancel := context.WithTimeout(ctx, recordTimeout)
	defer cancel()
	if e.closeLeftoverRecord(dctx, c, log) {
		return
	}
	if err := e.store.DeleteActiveCall(dctx, c.ID); err != nil {
		log.Warn().Err(err).Msg("record of a call left up not removed")
	}
}

// closeLeftoverRecord closes the open call record of a call the crash
// ended, released by the engine with the restart's Reason, with the
// removal of its active-call record; false when there is none to close
// (the caller removes the active-call record alone).
func (e *Engine) closeLeftoverRecord(ctx context.Context, c store.ActiveCall, log zerolog.Logger) bool {
	if e.events == nil || c.RecordID == "" {
		return false
	}
	rec, err := e.events.Record(ctx, c.RecordID)
	if err != nil || !rec.ReleasedAt.IsZero() {
		if err != nil {
			log.Warn().Err(err).Str("record_id", c.RecordID).Msg("call record of a call left up not found")
		}
		return false
	}
	_, cause, text := parseReason(reasonRestarted)
	track := events.Resume(context.WithoutCancel(e.ctx), e.events, rec, e.wantEvents)
	err = track.Released(time.Now(), events.Release{By: events.ByEngine, Status: cause, ReasonText: text, Outcome: store.OutcomeAnswered}, c.ID)
	if err != nil {
		log.Warn().Err(err).Str("record_id", c.RecordID).Msg("call record of a call left up not closed")
		return false
	}
	return true
}

// byeLeftover sends the BYE of one leftover leg and returns the status of
// its final response (0 if none came).
func (e *Engine) byeLeftover(ctx context.Context, leg store.DialogLeg) (int, error) {
	req, err := leftoverBye(leg)
	if err != nil {
		return 0, err
	}
	e.edge.FromListener(req)
	ctx, cancel := context.WithTimeout(ctx, leftoverByeTimeout)
	defer cancel()
	res, err := sipedge.NewOutboundLeg(e.edge.Client(req.Transport()), nil).Do(ctx, req)
	if err != nil {
		return 0, fmt.Errorf("bye: %w", err)
	}
	return res.StatusCode, nil
}

var errBadLeftover = errors.New("unusable dialog record")

// leftoverBye builds the in-dialog BYE of a recorded leg (RFC 3261
// 12.2.1.1): From the local URI and tag, To the remote URI and tag, the
// leg's Call-ID, a CSeq above any the peer has seen, and the route set:
// with a loose router first (;lr) the Request-URI is the remote target and
// the routes go in Route as they are; with a strict router the first route
// becomes the Request-URI and the remote target the last Route.
func leftoverBye(leg store.DialogLeg) (*sip.Request, error) {
	var target, local, remote sip.Uri
	for _, u := range []struct {
		name string
		s    string
		into *sip.Uri
	}{{"remote target", leg.RemoteTarget, &target}, {"local uri", leg.LocalURI, &local}, {"remote uri", leg.RemoteURI, &remote}} {
		if err := sip.ParseUri(u.s, u.into); err != nil {
			return nil, fmt.Errorf("%w: %s %q: %v", errBadLeftover, u.name, u.s, err)
		}
	}
	routes := make([]sip.Uri, len(leg.RouteSet))
	for i, r := range leg.RouteSet {
		if err := sip.ParseUri(r, &routes[i]); err != nil {
			return nil, fmt.Errorf("%w: route %q: %v", errBadLeftover, r, err)
		}
	}
	var transport string
	switch sip.NetworkToLower(leg.Transport) {
	case "udp", "":
		transport = "UDP"
	case "tcp":
		transport = "TCP"
	default:
		return nil, fmt.Errorf("%w: transport %q", errBadLeftover, leg.Transport)
	}
	if target.Host == "" {
		return nil, fmt.Errorf("%w: remote target %q has no host", errBadLeftover, leg.RemoteTarget)
	}
	if leg.CallID == "" || leg.LocalTag == "" {
		return nil, fmt.Errorf("%w: no call id or local tag", errBadLeftover)
	}

	recipient := target
	if len(routes) > 0 && !routes[0].UriParams.Has("lr") {
		recipient = routes[0]
		// Parameters a Request-URI may not carry (RFC 3261 19.1.1).
		recipient.UriParams = recipient.UriParams.Clone()
		recipient.UriParams.Remove("method")
		recipient.Headers = nil
		routes = append(routes[1:], target)
	}
	req := sip.NewRequest(sip.BYE, recipient)
	from := &sip.FromHeader{Address: local, Params: sip.NewParams()}
	from.Params.Add("tag", leg.LocalTag)
	req.AppendHeader(from)
	to := &sip.ToHeader{Address: remote, Params: sip.NewParams()}
	if leg.RemoteTag != "" {
		to.Params.Add("tag", leg.RemoteTag)
	}
	req.AppendHeader(to)
	callID := sip.CallIDHeader(leg.CallID)
	req.AppendHeader(&callID)
	req.AppendHeader(&sip.CSeqHeader{SeqNo: leapCSeq(leg.NextCSeq), MethodName: sip.BYE})
	maxfwd := sip.MaxForwardsHeader(70)
	req.AppendHeader(&maxfwd)
	for i := range routes {
		req.AppendHeader(&sip.RouteHeader{Address: routes[i]})
	}
	req.AppendHeader(sip.NewHeader("Reason", reasonRestarted))
	req.SetTransport(transport)
	if leg.Destination != "" {
		req.SetDestination(leg.Destination)
	}
	return req, nil
}

// leapCSeq is next plus the leap, kept below 2^31 (RFC 3261 8.1.1.5).
func leapCSeq(next uint32) uint32 {
	if next+leftoverCSeqLeap < 1<<31 && next+leftoverCSeqLeap > next {
		return next + leftoverCSeqLeap
	}
	return next
}
