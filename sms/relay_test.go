package sms

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/emiago/sipgo"
	"github.com/emiago/sipgo/sip"

	"github.com/xbridge/xbridge/events"
	"github.com/xbridge/xbridge/internal/testkit"
	"github.com/xbridge/xbridge/routing"
	"github.com/xbridge/xbridge/sipedge"
	"github.com/xbridge/xbridge/store"
)

func TestMain(m *testing.M) {
	sip.UDPMTUSize = sipedge.UDPMTUSize
	os.Exit(m.Run())
}

const (
	numX       = "8617000000001"
	numA       = "8613800000001"
	numB       = "8613900000002"
	numCourier = "8613700000007"
)

// phone is the trunk's side: it takes the relayed MESSAGEs and answers
// each with the next status of its script (200 once the script is out).
type phone struct {
	mu     sync.Mutex
	script []int
	got    chan *sip.Request
}

func (p *phone) setScript(codes ...int) {
	p.mu.Lock()
	p.script = codes
	p.mu.Unlock()
}

func (p *phone) onMessage(req *sip.Request, tx sip.ServerTransaction) {
	p.mu.Lock()
	code := 200
	if len(p.script) > 0 {
		code, p.script = p.script[0], p.script[1:]
	}
	p.mu.Unlock()
	p.got <- req
	if code != 0 { // 0: answer nothing, like a phone that is off
		_ = tx.Respond(sip.NewResponseFromRequest(req, code, "", nil))
	}
}

func (p *phone) next(t *testing.T) *sip.Request {
	t.Helper()
	select {
	case req := <-p.got:
		return req
	case <-time.After(10 * time.Second):
		t.Fatal("no MESSAGE reached the trunk")
		return nil
	}
}

func (p *phone) none(t *testing.T, wait time.Duration) {
	t.Helper()
	select {
	case req := <-p.got:
		t.Fatalf("unexpected MESSAGE at the trunk:\n%s", req)
	case <-time.After(wait):
	}
}

// rig is a relay on a real edge and store, a trunk phone and a carrier
// that sends MESSAGEs.
type rig struct {
	t       *testing.T
	st      *store.DB
	relay   *Relay
	edge    *sipedge.Edge
	addr    string
	phone   *phone
	carrier *testkit.UA
	cancel  context.CancelFunc
	done    chan struct{}
}

func newRig(t *testing.T, path string, opts ...Option) *rig {
	t.Helper()
	if path == "" {
		path = filepath.Join(t.TempDir(), "xbridge.db")
	}
	st, err := store.Open(path, store.WithSweepInterval(10*time.Millisecond), store.WithQuarantine(time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	r := &rig{t: t, st: st, phone: &phone{got: make(chan *sip.Request, 64)}}
	trunk := testkit.NewUDPUA(t, "trunk")
	trunk.Server.OnMessage(r.phone.onMessage)
	trunk.ServeUDP()
	r.addr = fmt.Sprintf("127.0.0.1:%d", testkit.FreePort(t))
	r.edge, err = sipedge.New(sipedge.Config{Listen: r.addr, Trunk: trunk.Addr}, sipedge.WithLogger(testkit.Logger(t)))
	if err != nil {
		t.Fatal(err)
	}
	opts = append([]Option{WithLogger(testkit.Logger(t)), WithEvents(nil), WithRetry(20*time.Millisecond, 50*time.Millisecond)}, opts...)
	r.relay = New(r.edge, routing.NewMessageRouter(st), st, opts...)
	r.relay.Register()
	if _, err := r.edge.Start(); err != nil {
		t.Fatal(err)
	}
	r.carrier = testkit.NewUDPUA(t, "carrier")
	r.carrier.ServeUDP()
	r.start()
	t.Cleanup(func() {
		r.stop()
		r.edge.Close()
		_ = st.Close()
	})
	return r
}

func (r *rig) start() {
	ctx, cancel := context.WithCancel(context.Background())
	r.cancel, r.done = cancel, make(chan struct{})
	go func() { defer close(r.done); r.relay.Run(ctx) }()
}

func (r *rig) stop() {
	if r.cancel == nil {
		return
	}
	r.cancel()
	select {
	case <-r.done:
	case <-time.After(40 * time.Second):
		r.t.Error("relay did not stop")
	}
	r.cancel = nil
}

func (r *rig) bind(nb store.NewBinding) store.Binding {
	r.t.Helper()
	if _, err := r.st.AddNumbers(context.Background(), "default", []string{numX}); err != nil {
		r.t.Fatal(err)
	}
	nb.Pool = "default"
	if nb.ExpiresAt.IsZero() {
		nb.ExpiresAt = time.Now().Add(time.Hour)
	}
	b, _, err := r.st.CreateBinding(context.Background(), nb)
	if err != nil {
		r.t.Fatal(err)
	}
	return b
}

// send sends a MESSAGE from sender to X the way a carrier writes one, with
// the sender's identity in every place a carrier may put it, and returns
// the engine's status.
func (r *rig) send(sender, contentType, body string, extra ...sip.Header) int {
	r.t.Helper()
	return r.do(r.request(sender, contentType, body, extra...))
}

func (r *rig) request(sender, contentType, body string, extra ...sip.Header) *sip.Request {
	r.t.Helper()
	host, port := splitAddr(r.t, r.addr)
	req := sip.NewRequest(sip.MESSAGE, sip.Uri{Scheme: "sip", User: numX, Host: host, Port: port})
	req.AppendHeader(&sip.FromHeader{DisplayName: "Wang Wei " + sender, Address: sip.Uri{Scheme: "sip", User: sender, Host: "pbx.acme-corp.example"}, Params: testkit.Params("tag", "sender-tag-7f3a")})
	req.AppendHeader(&sip.ToHeader{Address: sip.Uri{Scheme: "sip", User: numX, Host: host}})
	req.AppendHeader(sip.NewHeader("P-Asserted-Identity", "<sip:"+sender+"@pbx.acme-corp.example>"))
	req.AppendHeader(sip.NewHeader("X-Orig-Caller", "sip:"+sender+"@pbx.acme-corp.example"))
	req.AppendHeader(sip.NewHeader("Contact", "<sip:"+sender+"@127.0.0.1>"))
	req.AppendHeader(sip.NewHeader("User-Agent", "acme-sms "+sender))
	for _, h := range extra {
		req.AppendHeader(h)
	}
	if contentType != "" {
		req.AppendHeader(sip.NewHeader("Content-Type", contentType))
	}
	req.SetBody([]byte(body))
	return req
}

func (r *rig) do(req *sip.Request) int {
	r.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	res, err := r.carrier.Client.Do(ctx, req)
	if err != nil {
		r.t.Fatalf("MESSAGE: %v", err)
	}
	return res.StatusCode
}

func splitAddr(t *testing.T, addr string) (string, int) {
	t.Helper()
	var port int
	host, p, _ := strings.Cut(addr, ":")
	if _, err := fmt.Sscan(p, &port); err != nil {
		t.Fatal(err)
	}
	return host, port
}

// events returns the payloads in the outbox, in order.
func (r *rig) events() []events.MessagePayload {
	r.t.Helper()
	entries, err := r.st.OutboxAfter(context.Background(), 0, 1000)
	if err != nil {
		r.t.Fatal(err)
	}
	var out []events.MessagePayload
	for _, e := range entries {
		var p events.MessagePayload
		if err := json.Unmarshal(e.Body, &p); err != nil {
			r.t.Fatalf("event %s: %v", e.ID, err)
		}
		if p.Type != e.Type || p.Message.MessageID != e.Stream {
			r.t.Fatalf("event %s: type %s stream %s, payload %+v", e.ID, e.Type, e.Stream, p)
		}
		out = append(out, p)
	}
	return out
}

// waitEvents waits for the outbox to hold the event types want, in order.
func (r *rig) waitEvents(want ...string) []events.MessagePayload {
	r.t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		evs := r.events()
		var got []string
		for _, e := range evs {
			got = append(got, e.Type)
		}
		if strings.Join(got, " ") == strings.Join(want, " ") {
			return evs
		}
		if time.Now().After(deadline) {
			r.t.Fatalf("events %v, want %v", got, want)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// TestRelayAXB: A's SMS reaches B from X with the body and Content-Type
// untouched and nothing else of A's; B's reply reaches A.
func TestRelayAXB(t *testing.T) {
	r := newRig(t, "")
	b := r.bind(store.NewBinding{A: numA, B: numB, OrderID: "order-7", Policy: store.Policy{Webhook: "https://platform.example/hooks/order-7"}})
	const ct, body = "text/plain;charset=UTF-8", "取件码 8842, 到菜鸟驿站取"
	if code := r.send(numA, ct, body); code != 202 {
		t.Fatalf("MESSAGE answered %d, want 202", code)
	}
	got := r.phone.next(t)
	if u := got.Recipient.User; u != "+"+numB {
		t.Errorf("Request-URI user %q, want B", u)
	}
	if u := got.From().Address.User; u != "+"+numX {
		t.Errorf("From user %q, want X", u)
	}
	if string(got.Body()) != body || got.ContentType().Value() != ct {
		t.Errorf("body %q type %q, want them untouched", got.Body(), got.ContentType().Value())
	}
	raw := got.String()
	for _, leak := range []string{numA[4:], "Wang", "acme", "X-Orig", "sender-tag-7f3a"} {
		if strings.Contains(raw, leak) {
			t.Errorf("the relayed MESSAGE carries %q of the sender:\n%s", leak, raw)
		}
	}
	evs := r.waitEvents(events.TypeSMSReceived, events.TypeSMSDelivered)
	m := evs[1].Message
	if m.BindingID != b.ID || m.OrderID != "order-7" || m.Sender != numA || m.SenderRole != "A" || m.Receiver != numB ||
		m.ReceiverRole != "B" || m.X != numX || m.Length != 16 || m.Bytes != len(body) || m.Attempts != 1 || m.Status != 200 || m.Text != "" {
		t.Errorf("sms.delivered = %+v", m)
	}
	entries, err := r.st.OutboxAfter(context.Background(), 0, 10)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		if e.Webhook != b.Policy.Webhook {
			t.Errorf("%s goes to %q, want the binding's own webhook", e.Type, e.Webhook)
		}
	}
	if !strings.Contains(string(mustJSON(t, evs[0])), `"length":16`) || strings.Contains(string(mustJSON(t, evs[0])), "8842") {
		t.Errorf("sms.received carries the text or not its length: %s", mustJSON(t, evs[0]))
	}

	if code := r.send(numB, "text/plain", "ok"); code != 202 {
		t.Fatalf("B's reply answered %d", code)
	}
	if u := r.phone.next(t).Recipient.User; u != "+"+numA {
		t.Errorf("B's reply went to %q, want A", u)
	}
	if s := r.relay.Stats(); s.Received != 2 {
		t.Errorf("stats %+v", s)
	}
}

func mustJSON(t *testing.T, v any) []byte {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestRelayBlocked: a sender with no binding gets routing's status, the
// trunk gets nothing and the platform an sms.blocked event; what is not
// an SMS to X is refused with the status that says why.
func TestRelayBlocked(t *testing.T) {
	r := newRig(t, "")
	r.bind(store.NewBinding{A: numA, B: numB})
	if code := r.send(numCourier, "text/plain", "hi"); code != 404 {
		t.Fatalf("a stranger's MESSAGE answered %d, want 404", code)
	}
	evs := r.waitEvents(events.TypeSMSBlocked)
	if m := evs[0].Message; m.Sender != numCourier || m.Status != 404 || m.Outcome != store.OutcomeNoBinding || m.Pool != "default" || m.Receiver != "" {
		t.Errorf("sms.blocked = %+v", m)
	}
	huge := r.request(numA, "text/plain", strings.Repeat("x", maxBody+1))
	huge.SetTransport("TCP")                  // too big for a UDP datagram
	tcp, err := sipgo.NewClient(r.carrier.UA) // dials from a port of its own
	if err != nil {
		t.Fatal(err)
	}
	res, err := tcp.Do(t.Context(), huge)
	if err != nil || res.StatusCode != 413 {
		t.Errorf("an oversized MESSAGE answered %v (%v), want 413", res, err)
	}
	inDialog := r.request(numA, "text/plain", "hi")
	inDialog.To().Params.Add("tag", "x1")
	if code := r.do(inDialog); code != 481 {
		t.Errorf("a MESSAGE in a dialog the engine does not keep answered %d, want 481", code)
	}
	r.phone.none(t, 200*time.Millisecond)
	if s := r.relay.Stats(); s.Blocked != 2 || s.Received != 0 { // the 481 is no SMS
		t.Errorf("stats %+v", s)
	}
}

// TestRelayRetries: a phone that is off (480, then no answer at all) gets
// the SMS once it is back; each failure is rescheduled, and the delivered
// event counts the attempts.
func TestRelayRetries(t *testing.T) {
	r := newRig(t, "")
	r.bind(store.NewBinding{A: numA, B: numB})
	r.phone.setScript(480, 503, 200)
	if code := r.send(numA, "text/plain", "1234"); code != 202 {
		t.Fatalf("MESSAGE answered %d", code)
	}
	var callID string
	for i := range 3 {
		req := r.phone.next(t)
		if i == 0 {
			callID = req.CallID().Value()
		}
		if req.CallID().Value() != callID || req.CSeq().SeqNo != uint32(i+1) {
			t.Errorf("attempt %d: Call-ID %s CSeq %d, want the first's Call-ID and CSeq %d", i+1, req.CallID().Value(), req.CSeq().SeqNo, i+1)
		}
	}
	evs := r.waitEvents(events.TypeSMSReceived, events.TypeSMSDelivered)
	if m := evs[1].Message; m.Attempts != 3 {
		t.Errorf("delivered after %d attempts, want 3", m.Attempts)
	}
	if s := r.relay.Stats(); s.Retried != 2 || s.Delivered != 1 {
		t.Errorf("stats %+v", s)
	}
}

// TestRelayGivesUp: a phone that refuses for good fails at once; one that
// stays out of reach fails when the pool's retry period ends.
func TestRelayGivesUp(t *testing.T) {
	r := newRig(t, "")
	r.bind(store.NewBinding{A: numA, B: numB})
	if err := r.st.SetPoolSettings(context.Background(), "default", store.PoolSettings{SMS: store.SMSPolicy{Retry: 300 * time.Millisecond}}); err != nil {
		t.Fatal(err)
	}
	r.phone.setScript(404)
	if code := r.send(numA, "text/plain", "one"); code != 202 {
		t.Fatalf("MESSAGE answered %d", code)
	}
	evs := r.waitEvents(events.TypeSMSReceived, events.TypeSMSFailed)
	if m := evs[1].Message; m.Attempts != 1 || m.Status != 404 || !strings.HasPrefix(m.Reason, "refused: 404") {
		t.Errorf("sms.failed = %+v", m)
	}
	r.phone.setScript(480, 480, 480, 480, 480, 480, 480, 480, 480, 480, 480, 480, 480, 480, 480, 480, 480, 480, 480, 480)
	if code := r.send(numA, "text/plain", "two"); code != 202 {
		t.Fatalf("MESSAGE answered %d", code)
	}
	evs = r.waitEvents(events.TypeSMSReceived, events.TypeSMSFailed, events.TypeSMSReceived, events.TypeSMSFailed)
	if m := evs[3].Message; m.Attempts < 2 || m.Status != 480 || !strings.HasPrefix(m.Reason, "gave up after") {
		t.Errorf("sms.failed = %+v", m)
	}
	if n, _, _ := r.st.MessageQueue(context.Background()); n != 0 {
		t.Errorf("%d messages still queued", n)
	}
}

// TestRelayStoreAndForward: an SMS accepted while the trunk was down and
// the engine then stopped is delivered by the next engine on the same
// store: the 202 was a promise.
func TestRelayStoreAndForward(t *testing.T) {
	path := filepath.Join(t.TempDir(), "xbridge.db")
	r := newRig(t, path, WithRetry(time.Hour, time.Hour))
	r.bind(store.NewBinding{A: numA, B: numB})
	r.phone.setScript(503)
	if code := r.send(numA, "text/plain", "pickup 5521"); code != 202 {
		t.Fatalf("MESSAGE answered %d", code)
	}
	r.phone.next(t)
	for deadline := time.Now().Add(10 * time.Second); r.relay.Stats().Retried == 0; time.Sleep(5 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("the failed attempt was not rescheduled")
		}
	}
	r.waitEvents(events.TypeSMSReceived) // and rescheduled an hour away
	r.stop()
	r.edge.Close()
	_ = r.st.Close()

	// The next engine: same store, its retries due at once.
	st, err := store.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	due, _, err := st.DueMessages(context.Background(), time.Now().Add(2*time.Hour), 10)
	if err != nil || len(due) != 1 || due[0].Attempts != 1 {
		t.Fatalf("queued after the stop: %+v, %v", due, err)
	}
	_ = st.Close()
	r2 := newRig(t, path, WithClock(func() time.Time { return time.Now().Add(2 * time.Hour) }))
	if got := r2.phone.next(t); string(got.Body()) != "pickup 5521" {
		t.Fatalf("delivered %q", got.Body())
	}
	evs := r2.waitEvents(events.TypeSMSReceived, events.TypeSMSDelivered)
	if evs[1].Message.Attempts != 2 {
		t.Errorf("delivered at attempt %d, want 2", evs[1].Message.Attempts)
	}
}

// TestRelayKeepsBodies: where the pool keeps bodies, an SMS to A is in the
// binding's inbox, marked delivered once the phone took it, and its
// events carry the text; an SMS to B is in no inbox.
func TestRelayKeepsBodies(t *testing.T) {
	r := newRig(t, "")
	b := r.bind(store.NewBinding{A: numA, B: numB})
	if err := r.st.SetPoolSettings(context.Background(), "default", store.PoolSettings{SMS: store.SMSPolicy{KeepBodies: true}}); err != nil {
		t.Fatal(err)
	}
	if code := r.send(numB, "text/plain;charset=UTF-8", "取件码 8842"); code != 202 {
		t.Fatalf("MESSAGE answered %d", code)
	}
	r.phone.next(t)
	evs := r.waitEvents(events.TypeSMSReceived, events.TypeSMSDelivered)
	if evs[0].Message.Text != "取件码 8842" || evs[1].Message.Text != "取件码 8842" {
		t.Errorf("events of a pool that keeps bodies: %+v", evs)
	}
	in, err := r.st.Inbox(context.Background(), b.ID)
	if err != nil || len(in) != 1 || string(in[0].Body) != "取件码 8842" || in[0].Status != store.InboxDelivered || in[0].Sender != numB {
		t.Fatalf("inbox = %+v, %v", in, err)
	}
	if code := r.send(numA, "text/plain", "to B"); code != 202 {
		t.Fatalf("MESSAGE answered %d", code)
	}
	r.phone.next(t)
	r.waitEvents(events.TypeSMSReceived, events.TypeSMSDelivered, events.TypeSMSReceived, events.TypeSMSDelivered)
	if in, _ := r.st.Inbox(context.Background(), b.ID); len(in) != 1 {
		t.Errorf("an SMS to B went to the inbox: %+v", in)
	}
}
