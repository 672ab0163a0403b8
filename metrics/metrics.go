// Package metrics exposes the engine's state to Prometheus: collectors that
// read the packages' own counters and snapshots when scraped, so the call
// path pays nothing for them. It knows none of the packages it reads: the
// binary hands it Sources.
//
// Names are in the xbridge_ namespace and follow Prometheus conventions
// (_total for counters, base units); no label ever holds a number, a call
// ID or anything else without a fixed, small set of values.
package metrics

import (
	"net/http"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// Sources are what the collectors read at each scrape. A nil field is
// left out of the exposition.
type Sources struct {
	// ActiveCalls is the calls being set up or up now.
	ActiveCalls func() int
	// Outcomes is the call attempts ended so far, by outcome (a fixed set:
	// store.Outcome*).
	Outcomes func() map[string]uint64
	// RelayPortsInUse is the relay's UDP ports held by calls.
	RelayPortsInUse func() int
	// Malformed is the bad SIP input refused so far, by how: answered
	// (a 4xx from its raw text), dropped, refused (by the vetting).
	Malformed func() map[string]uint64
	// AdmissionRefused is the INVITEs refused by admission control, by
	// the limit that refused them (calls, rate, source).
	AdmissionRefused func() map[string]uint64
}

var (
	descActive    = prometheus.NewDesc("xbridge_calls_active", "Calls being set up or up.", nil, nil)
	descOutcomes  = prometheus.NewDesc("xbridge_call_attempts_total", "Call attempts ended, by outcome (answered, or why not).", []string{"outcome"}, nil)
	descPorts     = prometheus.NewDesc("xbridge_relay_ports_in_use", "RTP relay ports held by calls.", nil, nil)
	descMalformed = prometheus.NewDesc("xbridge_sip_malformed_total", "Malformed or refused SIP input, by how it was handled.", []string{"handling"}, nil)
	descAdmission = prometheus.NewDesc("xbridge_admission_refused_total", "INVITEs refused by admission control, by limit.", []string{"limit"}, nil)
)

type collector struct{ src Sources }

func (c collector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{descActive, descOutcomes, descPorts, descMalformed, descAdmission} {
		ch <- d
	}
}

func (c collector) Collect(ch chan<- prometheus.Metric) {
	if c.src.ActiveCalls != nil {
		ch <- prometheus.MustNewConstMetric(descActive, prometheus.GaugeValue, float64(c.src.ActiveCalls()))
	}
	if c.src.RelayPortsInUse != nil {
		ch <- prometheus.MustNewConstMetric(descPorts, prometheus.GaugeValue, float64(c.src.RelayPortsInUse()))
	}
	for _, m := range []struct {
		desc *prometheus.Desc
		read func() map[string]uint64
	}{{descOutcomes, c.src.Outcomes}, {descMalformed, c.src.Malformed}, {descAdmission, c.src.AdmissionRefused}} {
		if m.read == nil {
			continue
		}
		for label, n := range m.read() {
			ch <- prometheus.MustNewConstMetric(m.desc, prometheus.CounterValue, float64(n), label)
		}
	}
}

// NewRegistry returns a registry with the engine's collectors and the Go
// runtime's and the process's.
func NewRegistry(src Sources) *prometheus.Registry {
	reg := prometheus.NewRegistry()
	reg.MustRegister(collector{src}, collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return reg
}

// Handler serves reg in the Prometheus text format.
func Handler(reg *prometheus.Registry) http.Handler {
	return promhttp.HandlerFor(reg, promhttp.HandlerOpts{})
}
