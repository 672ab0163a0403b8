package routing

import (
	"net/netip"
	"testing"
	"time"

	"github.com/xbridge/xbridge/store"
)

// TestRouteMessage routes SMS over the real store, model by model.
func TestRouteMessage(t *testing.T) {
	const xb, xn, xe, xo = "8617000000001", "8617000000002", "8617000000003", "8617000000004"
	db, clock := openStore(t, xb, xn, xe, xo)
	ctx := t.Context()
	day := clock.Now().Add(24 * time.Hour)
	mk := func(nb store.NewBinding) store.Binding {
		t.Helper()
		nb.Pool, nb.ExpiresAt = "default", day
		b, _, err := db.CreateBinding(ctx, nb)
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	const a, b, courier, stranger = "8613800000001", "8613900000002", "8613700000007", "8613500000005"
	axb := mk(store.NewBinding{X: xb, A: a, B: b, Policy: store.Policy{Direction: store.DirectionAToB}})
	axn := mk(store.NewBinding{Model: store.ModelAXN, X: xn, A: a, B: b})
	axe := mk(store.NewBinding{Model: store.ModelAXE, X: xe, A: a, Extension: "4321"})
	lone := mk(store.NewBinding{Model: store.ModelAXN, X: xo, A: a})

	mr := NewMessageRouter(db, WithClock(clock.Now), WithTrusted(netip.MustParsePrefix("127.0.0.1/32")))
	src := netip.MustParseAddr("127.0.0.1")
	type want struct {
		code    int
		to      string
		binding string
		roles   string
		note    bool
		outcome string
	}
	step := func(name string, m Message, w want) {
		t.Helper()
		if !m.Source.IsValid() {
			m.Source = src
		}
		d := mr.Route(ctx, m)
		if d.Code != w.code || d.Deliver != (w.code == 0) || d.Receiver != w.to || w.binding != "" && d.Binding.ID != w.binding ||
			w.code == 0 && d.SenderRole+d.ReceiverRole != w.roles || d.NoteSender != w.note || d.Outcome != w.outcome {
			t.Errorf("%s: code %d (%s, %s) to %q binding %q roles %s%s note %v; want %+v",
				name, d.Code, d.Reason, d.Outcome, d.Receiver, d.Binding.ID, d.SenderRole, d.ReceiverRole, d.NoteSender, w)
		}
		if d.Deliver && d.X != m.Dialled && "86"+d.X[2:] != d.X {
			t.Errorf("%s: X %q", name, d.X)
		}
	}
	step("AXB A to B", Message{Sender: a, Dialled: xb}, want{to: b, binding: axb.ID, roles: "AB"})
	step("AXB B to A against the direction", Message{Sender: b, Dialled: xb}, want{code: 403, binding: axb.ID, outcome: store.OutcomeDirection})
	step("AXB stranger", Message{Sender: stranger, Dialled: xb}, want{code: 404, outcome: store.OutcomeNoBinding})
	step("untrusted source", Message{Sender: a, Dialled: xb, Source: netip.MustParseAddr("127.0.0.2")}, want{code: 403, outcome: store.OutcomeUntrusted})
	step("AXN N to A", Message{Sender: stranger, Dialled: xn}, want{to: a, binding: axn.ID, roles: "NA", note: true})
	step("AXN A to B", Message{Sender: a, Dialled: xn}, want{to: b, binding: axn.ID, roles: "AB"})
	step("AXN B to A", Message{Sender: b, Dialled: xn}, want{to: a, binding: axn.ID, roles: "BA"})
	step("AXN without B: A with nobody to reply to", Message{Sender: a, Dialled: xo}, want{code: 404, binding: lone.ID, outcome: store.OutcomeNoCallback})
	if err := db.NoteSender(ctx, lone.ID, stranger, clock.Now()); err != nil {
		t.Fatal(err)
	}
	step("AXN without B: A replies", Message{Sender: a, Dialled: xo}, want{to: stranger, binding: lone.ID, roles: "AN"})
	step("AXE courier without extension", Message{Sender: courier, Dialled: xe, Text: "your parcel"}, want{code: 404, outcome: store.OutcomeExtensionNotFound})
	step("AXE courier with a wrong extension", Message{Sender: courier, Dialled: xe, Text: "1111 取件码 8842"}, want{code: 404, outcome: store.OutcomeExtensionNotFound})
	step("AXE a longer number is no extension", Message{Sender: courier, Dialled: xe, Text: "43215678"}, want{code: 404, outcome: store.OutcomeExtensionNotFound})
	step("AXE courier names the extension", Message{Sender: courier, Dialled: xe, Text: "  4321 取件码 8842"}, want{to: a, binding: axe.ID, roles: "NA", note: true})
	step("AXE A before anyone reached A", Message{Sender: a, Dialled: xe}, want{code: 404, binding: axe.ID, outcome: store.OutcomeNoCallback})
	if err := db.NoteCaller(ctx, axe.ID, courier, clock.Now()); err != nil {
		t.Fatal(err)
	}
	step("AXE courier who called", Message{Sender: courier, Dialled: xe, Text: "取件码 8842"}, want{to: a, binding: axe.ID, roles: "NA", note: true})
	step("AXE A replies to the courier", Message{Sender: a, Dialled: xe}, want{to: courier, binding: axe.ID, roles: "AN"})
	clock.Advance(25 * time.Hour)
	step("AXE A past the callback window", Message{Sender: a, Dialled: xe}, want{code: 404, binding: axe.ID, outcome: store.OutcomeNoCallback})
}

// TestRouteMessageGrace: an expired binding relays SMS through its grace
// period (swept or not yet), and refuses them once it is over.
func TestRouteMessageGrace(t *testing.T) {
	const x = "8617000000001"
	db, clock := openStoreWith(t, []store.Option{store.WithSweepInterval(5 * time.Millisecond), store.WithSMSGrace(time.Hour)}, x)
	ctx := t.Context()
	bd, _, err := db.CreateBinding(ctx, store.NewBinding{Pool: "default", A: "8613800000001", B: "8613900000002", ExpiresAt: clock.Now().Add(time.Minute)})
	if err != nil {
		t.Fatal(err)
	}
	mr := NewMessageRouter(db, WithClock(clock.Now))
	r := NewRouter(db, WithClock(clock.Now))
	clock.Advance(2 * time.Minute)
	deadline := time.Now().Add(10 * time.Second)
	for {
		if _, _, err := db.GraceBinding(ctx, bd.ID); err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("binding not swept into its grace")
		}
		time.Sleep(5 * time.Millisecond)
	}
	if d := mr.Route(ctx, Message{Sender: bd.A, Dialled: x}); !d.Deliver || !d.Grace || d.Receiver != bd.B {
		t.Fatalf("SMS in grace: %+v", d)
	}
	if d := r.Route(ctx, Call{Caller: bd.A, Dialled: x}); d.Code != 480 {
		t.Fatalf("call in grace: %d %s, want 480", d.Code, d.Reason)
	}
	// Past the grace, before the sweep: refused all the same.
	clock.Advance(time.Hour)
	if d := mr.Route(ctx, Message{Sender: bd.A, Dialled: x}); d.Deliver || d.Code != 480 {
		t.Fatalf("SMS after the grace: %+v", d)
	}
}

func TestLeadingExtension(t *testing.T) {
	for _, tc := range []struct {
		text string
		n    int
		want string
	}{
		{"1234 取件码 5678", 4, "1234"},
		{"#1234", 4, "1234"},
		{"\n 1234:", 4, "1234"},
		{"12345", 4, ""},
		{"123", 4, ""},
		{"取件码 1234", 4, ""},
		{"", 4, ""},
		{"123456", 6, "123456"},
		{"12", 0, ""},
	} {
		if got := leadingExtension(tc.text, tc.n); got != tc.want {
			t.Errorf("leadingExtension(%q, %d) = %q, want %q", tc.text, tc.n, got, tc.want)
		}
	}
}
