package metrics

import (
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
)

func TestExposition(t *testing.T) {
	reg := NewRegistry(Sources{
		ActiveCalls:      func() int { return 3 },
		Outcomes:         func() map[string]uint64 { return map[string]uint64{"answered": 7, "busy": 2} },
		RelayPortsInUse:  func() int { return 12 },
		Malformed:        func() map[string]uint64 { return map[string]uint64{"answered": 1, "dropped": 0, "refused": 4} },
		AdmissionRefused: nil, // an engine without limits: left out
		Relay: func() map[string]RelayFlow {
			return map[string]RelayFlow{"a_to_b": {RTPPackets: 50, Strangers: 3}, "b_to_a": {RTPPackets: 49}}
		},
		SMS:      func() SMSStats { return SMSStats{Received: 5, Delivered: 4, Failed: 1, Blocked: 2, Retried: 6} },
		SMSQueue: func() (int, time.Time) { return 1, time.Now().Add(-time.Minute) },
	})
	rec := httptest.NewRecorder()
	Handler(reg).ServeHTTP(rec, httptest.NewRequest("GET", "/metrics", nil))
	parser := expfmt.NewTextParser(model.LegacyValidation)
	families, err := parser.TextToMetricFamilies(strings.NewReader(rec.Body.String()))
	if err != nil {
		t.Fatal(err)
	}
	value := func(name, label, lv string) float64 {
		f, ok := families[name]
		if !ok {
			t.Fatalf("no %s", name)
		}
		for _, m := range f.GetMetric() {
			if label == "" {
				if m.Gauge != nil {
					return m.GetGauge().GetValue()
				}
				return m.GetCounter().GetValue()
			}
			for _, l := range m.GetLabel() {
				if l.GetName() == label && l.GetValue() == lv {
					return m.GetCounter().GetValue()
				}
			}
		}
		t.Fatalf("no %s{%s=%q}", name, label, lv)
		return 0
	}
	for _, c := range []struct {
		name, label, lv string
		want            float64
	}{
		{"xbridge_calls_active", "", "", 3},
		{"xbridge_relay_ports_in_use", "", "", 12},
		{"xbridge_call_attempts_total", "outcome", "answered", 7},
		{"xbridge_call_attempts_total", "outcome", "busy", 2},
		{"xbridge_sip_malformed_total", "handling", "refused", 4},
		{"xbridge_relay_dropped_total", "reason", "stranger", 3},
		{"xbridge_sms_total", "result", "received", 5},
		{"xbridge_sms_total", "result", "failed", 1},
		{"xbridge_sms_total", "result", "blocked", 2},
		{"xbridge_sms_retries_total", "", "", 6},
		{"xbridge_sms_queued", "", "", 1},
	} {
		if got := value(c.name, c.label, c.lv); got != c.want {
			t.Errorf("%s{%s=%q} = %v, want %v", c.name, c.label, c.lv, got, c.want)
		}
	}
	if age := value("xbridge_sms_oldest_age_seconds", "", ""); age < 59 || age > 3600 {
		t.Errorf("oldest sms age %v s, want about a minute", age)
	}
	if _, ok := families["xbridge_admission_refused_total"]; ok {
		t.Error("admission metrics without admission control")
	}
	if families["xbridge_call_attempts_total"].GetType().String() != "COUNTER" {
		t.Errorf("call attempts are a %v", families["xbridge_call_attempts_total"].GetType())
	}
}
