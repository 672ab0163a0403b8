package events

import (
	"context"
	"testing"
	"time"

	"github.com/xbridge/xbridge/store"
)

type nopSink struct{}

func (nopSink) QueueCall(context.Context, store.CallChange) error { return nil }

// BenchmarkCallEvents is what one answered call's events and record cost
// the engine before the store: four event bodies and the record.
func BenchmarkCallEvents(b *testing.B) {
	t0 := time.Now()
	route := Route{BindingID: "b01hxyzabcdefghjkmnpqrstvw", Model: store.ModelAXB, OrderID: "order-123456", UserData: `{"shop":"s1"}`,
		Pool: "default", CallerRole: "A", Callee: "8613900000002", CalleeRole: "B", Display: "8617000000001"}
	b.ReportAllocs()
	for b.Loop() {
		c, err := Begin(context.Background(), nopSink{}, Start{ACallID: "a1@carrier.example", X: "8617000000001", Caller: "8613800000001", At: t0}, nil)
		if err != nil {
			b.Fatal(err)
		}
		_ = c.Routed(route, "b1@xbridge", t0)
		_ = c.Ringing(t0)
		_ = c.Answered(t0, &store.ActiveCall{ID: "b1@xbridge"})
		_ = c.Released(t0, Release{By: ByCaller, Status: 200, Outcome: store.OutcomeAnswered}, "b1@xbridge")
	}
}
