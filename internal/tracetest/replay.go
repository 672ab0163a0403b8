package tracetest

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strings"
	"sync"
	"time"

	"github.com/emiago/sipgo/sip"
)

// Setup is what a trace needs from the test around the engine: creating and
// removing bindings (through the store or the HTTP API).
type Setup interface {
	CreateBinding(ctx context.Context, b Binding) (id string, err error)
	DeleteBinding(ctx context.Context, id string) error
}

// Replayer plays the carrier side and the trunk side of a trace from two UDP
// sockets. Point the engine's trunk at TrunkAddr before it starts.
type Replayer struct {
	ip      string
	quiet   time.Duration
	logf    func(format string, args ...any)
	carrier *endpoint
	trunk   *endpoint

	mu   sync.Mutex
	used bool
}

// Option configures a Replayer.
type Option func(*Replayer)

// WithIP sets the address both sockets listen on (default 127.0.0.1).
func WithIP(ip string) Option { return func(r *Replayer) { r.ip = ip } }

// WithLog receives a transcript of every message sent, received and
// absorbed; testing.T.Logf fits.
func WithLog(logf func(format string, args ...any)) Option {
	return func(r *Replayer) { r.logf = logf }
}

// WithQuietPeriod is how long both sides must stay silent after the last
// step for the run to pass (default 300 ms): a late, unexpected message
// fails the trace as surely as an early one.
func WithQuietPeriod(d time.Duration) Option { return func(r *Replayer) { r.quiet = d } }

// New opens the carrier and trunk sockets.
func New(opts ...Option) (*Replayer, error) {
	r := &Replayer{ip: "127.0.0.1", quiet: 300 * time.Millisecond, logf: func(string, ...any) {}}
	for _, o := range opts {
		o(r)
	}
	var err error
	if r.carrier, err = listen(Carrier, r.ip); err != nil {
		return nil, err
	}
	if r.trunk, err = listen(Trunk, r.ip); err != nil {
		r.carrier.close()
		return nil, err
	}
	return r, nil
}

// CarrierAddr is the carrier socket's address.
func (r *Replayer) CarrierAddr() string { return r.carrier.addr() }

// TrunkAddr is the trunk socket's address: the engine's outbound trunk.
func (r *Replayer) TrunkAddr() string { return r.trunk.addr() }

// Close closes both sockets.
func (r *Replayer) Close() error {
	r.carrier.close()
	r.trunk.close()
	return nil
}

// run is the state of one Run.
type run struct {
	ctx      context.Context
	r        *Replayer
	tr       *Trace
	engine   *net.UDPAddr
	setup    Setup
	sides    [2]*sideState
	captures map[string]string
	ids      map[string]string // binding name -> ID
}

func (ru *run) logf(format string, args ...any) { ru.r.logf(format, args...) }

// Run creates the trace's bindings through setup, plays every step against
// the engine at engine (host:port) and checks every message either side
// receives. A Replayer runs one trace: its sockets would otherwise carry
// one run's stragglers into the next.
func (r *Replayer) Run(ctx context.Context, engine string, tr *Trace, setup Setup) error {
	r.mu.Lock()
	if r.used {
		r.mu.Unlock()
		return errors.New("tracetest: a Replayer runs one trace; make a new one")
	}
	r.used = true
	r.mu.Unlock()

	addr, err := net.ResolveUDPAddr("udp", engine)
	if err != nil {
		return fmt.Errorf("tracetest: engine address: %w", err)
	}
	ru := &run{
		ctx: ctx, r: r, tr: tr, engine: addr, setup: setup,
		sides:    [2]*sideState{newSideState(r.carrier), newSideState(r.trunk)},
		captures: map[string]string{}, ids: map[string]string{},
	}
	defer ru.sides[Carrier].close()
	defer ru.sides[Trunk].close()

	for _, h := range tr.hidden {
		text, err := ru.render(h.side, h.text, false)
		if err != nil {
			return fmt.Errorf("%s:%d: %w", tr.Name, h.line, err)
		}
		ru.sides[h.side].hidden = append(ru.sides[h.side].hidden, text)
	}
	for _, b := range tr.Bindings {
		if err := ru.create(b); err != nil {
			return fmt.Errorf("%s: %w", tr.Name, err)
		}
	}
	for _, st := range tr.steps {
		if err := ru.step(st); err != nil {
			return fmt.Errorf("%s:%d: %w", tr.Name, st.line, err)
		}
	}
	// Whatever arrives now was never expected.
	deadline := time.Now().Add(r.quiet)
	for _, side := range []Side{Carrier, Trunk} {
		rc, err := ru.next(side, deadline)
		switch {
		case err == nil:
			return fmt.Errorf("%s: after the last step the %s received an unexpected message:\n%s", tr.Name, side, indent(rc.raw))
		case !errors.Is(err, errTimeout):
			return fmt.Errorf("%s: after the last step: %w", tr.Name, err)
		}
	}
	return nil
}

func (ru *run) create(b Binding) error {
	if ru.setup == nil {
		return errors.New("trace needs bindings but no Setup was given")
	}
	id, err := ru.setup.CreateBinding(ru.ctx, b)
	if err != nil {
		return fmt.Errorf("create binding %s: %w", b.Name, err)
	}
	ru.ids[b.Name] = id
	ru.logf("created binding %s (%s) model=%s x=%s a=%s b=%s extension=%s ttl=%s", b.Name, id, b.Model, b.X, b.A, b.B, b.Extension, b.TTL)
	return nil
}

func (ru *run) step(st step) error {
	switch st.kind {
	case stepWait:
		return ru.sleep(st.within)
	case stepCreate:
		return ru.create(st.binding)
	case stepDelete:
		id, ok := ru.ids[st.binding.Name]
		if !ok {
			return fmt.Errorf("binding %s was never created", st.binding.Name)
		}
		if ru.setup == nil {
			return errors.New("api delete needs a Setup")
		}
		if err := ru.setup.DeleteBinding(ru.ctx, id); err != nil {
			return fmt.Errorf("delete binding %s: %w", st.binding.Name, err)
		}
		ru.logf("deleted binding %s", st.binding.Name)
		return nil
	case stepSend:
		text, err := ru.render(st.side, st.template, false)
		if err != nil {
			return err
		}
		return ru.send(st.side, assemble(text), ru.engine)
	case stepReply:
		return ru.reply(st)
	case stepSilence:
		rc, err := ru.next(st.side, time.Now().Add(st.within))
		switch {
		case err == nil:
			return fmt.Errorf("expected no message on the %s for %s, received:\n%s", st.side, st.within, indent(rc.raw))
		case errors.Is(err, errTimeout):
			return nil
		}
		return err
	case stepExpect:
		return ru.expect(st)
	}
	return fmt.Errorf("unknown step kind %d", st.kind)
}

func (ru *run) sleep(d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ru.ctx.Done():
		return ru.ctx.Err()
	}
}

func (ru *run) send(side Side, data []byte, to *net.UDPAddr) error {
	if _, err := sip.ParseMessage(data); err != nil {
		return fmt.Errorf("the %s's message does not parse (%v):\n%s", side, err, indent(string(data)))
	}
	ru.logf("%s -> engine:\n%s", side, indent(string(data)))
	if _, err := ru.sides[side].ep.conn.WriteToUDP(data, to); err != nil {
		return fmt.Errorf("%s send: %w", side, err)
	}
	return nil
}

// reply answers the last request the side took (of method st.to when
// given): Via, From, To, Call-ID and CSeq copied verbatim, the side's [tag]
// added to a To without one, then the step's own headers and body.
func (ru *run) reply(st step) error {
	rc, ok := ru.sides[st.side].lastReq[st.to]
	if !ok {
		what := "any request"
		if st.to != "" {
			what = "a " + st.to
		}
		return fmt.Errorf("the %s has not received %s to reply to", st.side, what)
	}
	req, _ := rc.request()
	lines := []string{fmt.Sprintf("SIP/2.0 %s %s", st.what, st.reason)}
	lines = append(lines, rawHeaders(rc.raw, "via", "from")...)
	for _, to := range rawHeaders(rc.raw, "to") {
		if t := req.To(); t != nil && !t.Params.Has("tag") && st.what != "100" {
			tag, err := ru.lookup(st.side, "tag")
			if err != nil {
				return err
			}
			to += ";tag=" + tag
		}
		lines = append(lines, to)
	}
	lines = append(lines, rawHeaders(rc.raw, "call-id", "cseq")...)
	extra, err := ru.render(st.side, st.template, false)
	if err != nil {
		return err
	}
	text := strings.Join(lines, "\n")
	if extra != "" {
		text += "\n" + extra
	}
	to, err := net.ResolveUDPAddr("udp", rc.from)
	if err != nil {
		return fmt.Errorf("reply address: %w", err)
	}
	return ru.send(st.side, assemble(text), to)
}

// expect takes the side's next message and checks it is what the step
// names and passes every check under it.
func (ru *run) expect(st step) error {
	want := st.what
	if st.to != "" {
		want += " to " + st.to
	}
	rc, err := ru.next(st.side, time.Now().Add(st.within))
	if errors.Is(err, errTimeout) {
		return fmt.Errorf("%s expects %s: nothing received within %s", st.side, want, st.within)
	}
	if err != nil {
		return fmt.Errorf("%s expects %s: %w", st.side, want, err)
	}
	if !kindMatches(st, rc) {
		got := rc.describe()
		if st.to != "" {
			got += " (CSeq " + cseqMethod(rc.msg) + ")"
		}
		return fmt.Errorf("%s expects %s\n  expected: %s\n  received: %s\n%s", st.side, want, want, got, indent(rc.raw))
	}
	failed, err := ru.runChecks(st, rc)
	if err != nil {
		return err
	}
	if len(failed) > 0 {
		return fmt.Errorf("%s expects %s: %d of %d checks failed:\n  %s\nreceived:\n%s",
			st.side, want, len(failed), len(st.checks), strings.Join(failed, "\n  "), indent(rc.raw))
	}
	return nil
}
