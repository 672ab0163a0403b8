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
	"time"

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
	// Events is the events dispatcher's counters.
	Events func() EventStats
	// SetupLatency is the time from A's INVITE to B's first ringing and
	// to the answer, by stage ("ringing", "answer"); TalkTime the answered
	// calls' length.
	SetupLatency func() map[string]Histogram
	TalkTime     func() Histogram
	// Outbox is the events waiting in the store's outbox and when the
	// oldest was made (zero with none).
	Outbox func() (n int, oldest time.Time)
	// Relay is the relay's traffic since the start, by direction
	// ("a_to_b", "b_to_a").
	Relay func() map[string]RelayFlow
	// Pools is every pool's figures (operators name a handful of pools:
	// the pool label is bounded by their config).
	Pools func() []PoolStats
	// SMS is the SMS relay's counters; SMSQueue the messages waiting for
	// delivery and when the oldest was received.
	SMS      func() SMSStats
	SMSQueue func() (n int, oldest time.Time)
}

// SMSStats is what the SMS relay reports since the start: messages
// accepted, delivered, given up, refused, and attempts rescheduled.
type SMSStats struct {
	Received, Delivered, Failed, Blocked, Retried uint64
}

// RelayFlow is one direction of the relay's traffic: RTP and RTCP
// forwarded (packets, UDP payload bytes), and packets dropped as not
// forwardable (Invalid) or from a source the sender's SDP and latch do not
// allow (Strangers).
type RelayFlow struct {
	RTPPackets, RTPBytes, RTCPPackets, RTCPBytes uint64
	Invalid, Strangers                           uint64
}

// Histogram is a distribution in seconds: cumulative counts per upper
// bound, their total and their sum.
type Histogram struct {
	Bounds []float64
	Counts []uint64
	Count  uint64
	Sum    float64
}

func (h Histogram) buckets() map[float64]uint64 {
	out := make(map[float64]uint64, len(h.Bounds))
	for i, b := range h.Bounds {
		if i < len(h.Counts) {
			out[b] = h.Counts[i]
		}
	}
	return out
}

// PoolStats is one pool's figures.
type PoolStats struct {
	Name string
	// Numbers in the pool, those with a live binding, those disabled.
	Numbers, InUse, Disabled int
	// Bindings is the live bindings by model ("AXB", "AXN", "AXE").
	Bindings map[string]int
	// Quarantined is the (X, party) pairs in quarantine.
	Quarantined int
}

// EventStats is what the events dispatcher reports: events held in memory
// (read from the outbox, not yet delivered or given up), delivered and
// dead since the start, and webhook POSTs by result (2xx, 4xx, 5xx,
// error).
type EventStats struct {
	Held            int
	Delivered, Dead uint64
	Posts           map[string]uint64
}

var (
	descActive    = prometheus.NewDesc("xbridge_calls_active", "Calls being set up or up.", nil, nil)
	descOutcomes  = prometheus.NewDesc("xbridge_call_attempts_total", "Call attempts ended, by outcome (answered, or why not).", []string{"outcome"}, nil)
	descPorts     = prometheus.NewDesc("xbridge_relay_ports_in_use", "RTP relay ports held by calls.", nil, nil)
	descMalformed = prometheus.NewDesc("xbridge_sip_malformed_total", "Malformed or refused SIP input, by how it was handled.", []string{"handling"}, nil)
	descAdmission = prometheus.NewDesc("xbridge_admission_refused_total", "INVITEs refused by admission control, by limit.", []string{"limit"}, nil)
	descHeld      = prometheus.NewDesc("xbridge_events_held", "Events read from the outbox and not yet delivered or given up.", nil, nil)
	descDelivered = prometheus.NewDesc("xbridge_events_delivered_total", "Events webhooks took.", nil, nil)
	descDead      = prometheus.NewDesc("xbridge_events_dead_total", "Events given up on (moved to the dead letters).", nil, nil)
	descPosts     = prometheus.NewDesc("xbridge_webhook_posts_total", "Webhook POSTs, by result (status class, or error).", []string{"result"}, nil)
	descBindings  = prometheus.NewDesc("xbridge_bindings_live", "Live bindings, by pool and model.", []string{"pool", "model"}, nil)
	descNumbers   = prometheus.NewDesc("xbridge_pool_numbers", "A pool's numbers, by state: total, in_use (a live binding on it), disabled.", []string{"pool", "state"}, nil)
	descSMS       = prometheus.NewDesc("xbridge_sms_total", "SMS (SIP MESSAGE) handled, by result: received (accepted, 202), delivered, failed (given up), blocked (refused).", []string{"result"}, nil)
	descSMSRetry  = prometheus.NewDesc("xbridge_sms_retries_total", "SMS delivery attempts that failed and were rescheduled.", nil, nil)
	descSMSQueue  = prometheus.NewDesc("xbridge_sms_queued", "SMS accepted and not yet delivered or given up.", nil, nil)
	descSMSAge    = prometheus.NewDesc("xbridge_sms_oldest_age_seconds", "Age of the oldest SMS waiting for delivery (0 with none).", nil, nil)
	descQuar      = prometheus.NewDesc("xbridge_quarantined_pairs", "Released (X, party) pairs in quarantine, by pool.", []string{"pool"}, nil)
	descSetup     = prometheus.NewDesc("xbridge_call_setup_seconds", "Time from A's INVITE to B's first ringing (stage ringing) and to the answer (stage answer).", []string{"stage"}, nil)
	descTalk      = prometheus.NewDesc("xbridge_call_talk_seconds", "Answered calls' length, from the answer to the release.", nil, nil)
	descOutbox    = prometheus.NewDesc("xbridge_outbox_events", "Events committed and not yet delivered or given up.", nil, nil)
	descOutboxAge = prometheus.NewDesc("xbridge_outbox_oldest_age_seconds", "Age of the oldest event in the outbox (0 with none).", nil, nil)
	descRelayPkts = prometheus.NewDesc("xbridge_relay_packets_total", "Packets the relay forwarded, by direction and kind (rtp, rtcp).", []string{"direction", "kind"}, nil)
	descRelayB    = prometheus.NewDesc("xbridge_relay_bytes_total", "UDP payload bytes the relay forwarded, by direction and kind.", []string{"direction", "kind"}, nil)
	descRelayDrop = prometheus.NewDesc("xbridge_relay_dropped_total", "Packets the relay did not forward, by direction and reason (invalid, stranger).", []string{"direction", "reason"}, nil)
)

type collector struct{ src Sources }

func (c collector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{descActive, descOutcomes, descPorts, descMalformed, descAdmission, descHeld, descDelivered, descDead, descPosts, descBindings, descNumbers, descQuar, descSetup, descTalk, descRelayPkts, descRelayB, descRelayDrop, descOutbox, descOutboxAge, descSMS, descSMSRetry, descSMSQueue, descSMSAge} {
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
	if c.src.SetupLatency != nil {
		for stage, h := range c.src.SetupLatency() {
			ch <- prometheus.MustNewConstHistogram(descSetup, h.Count, h.Sum, h.buckets(), stage)
		}
	}
	if c.src.TalkTime != nil {
		h := c.src.TalkTime()
		ch <- prometheus.MustNewConstHistogram(descTalk, h.Count, h.Sum, h.buckets())
	}
	if c.src.Outbox != nil {
		queueGauges(ch, descOutbox, descOutboxAge, c.src.Outbox)
	}
	if c.src.SMS != nil {
		s := c.src.SMS()
		for _, r := range []struct {
			result string
			n      uint64
		}{{"received", s.Received}, {"delivered", s.Delivered}, {"failed", s.Failed}, {"blocked", s.Blocked}} {
			ch <- prometheus.MustNewConstMetric(descSMS, prometheus.CounterValue, float64(r.n), r.result)
		}
		ch <- prometheus.MustNewConstMetric(descSMSRetry, prometheus.CounterValue, float64(s.Retried))
	}
	if c.src.SMSQueue != nil {
		queueGauges(ch, descSMSQueue, descSMSAge, c.src.SMSQueue)
	}
	if c.src.Relay != nil {
		for dir, f := range c.src.Relay() {
			for _, m := range []struct {
				desc  *prometheus.Desc
				label string
				value uint64
			}{
				{descRelayPkts, "rtp", f.RTPPackets}, {descRelayPkts, "rtcp", f.RTCPPackets},
				{descRelayB, "rtp", f.RTPBytes}, {descRelayB, "rtcp", f.RTCPBytes},
				{descRelayDrop, "invalid", f.Invalid}, {descRelayDrop, "stranger", f.Strangers},
			} {
				ch <- prometheus.MustNewConstMetric(m.desc, prometheus.CounterValue, float64(m.value), dir, m.label)
			}
		}
	}
	if c.src.Pools != nil {
		for _, p := range c.src.Pools() {
			for model, n := range p.Bindings {
				ch <- prometheus.MustNewConstMetric(descBindings, prometheus.GaugeValue, float64(n), p.Name, model)
			}
			for state, n := range map[string]int{"total": p.Numbers, "in_use": p.InUse, "disabled": p.Disabled} {
				ch <- prometheus.MustNewConstMetric(descNumbers, prometheus.GaugeValue, float64(n), p.Name, state)
			}
			ch <- prometheus.MustNewConstMetric(descQuar, prometheus.GaugeValue, float64(p.Quarantined), p.Name)
		}
	}
	var posts func() map[string]uint64
	if c.src.Events != nil {
		ev := c.src.Events()
		ch <- prometheus.MustNewConstMetric(descHeld, prometheus.GaugeValue, float64(ev.Held))
		ch <- prometheus.MustNewConstMetric(descDelivered, prometheus.CounterValue, float64(ev.Delivered))
		ch <- prometheus.MustNewConstMetric(descDead, prometheus.CounterValue, float64(ev.Dead))
		posts = func() map[string]uint64 { return ev.Posts }
	}
	for _, m := range []struct {
		desc *prometheus.Desc
		read func() map[string]uint64
	}{{descOutcomes, c.src.Outcomes}, {descMalformed, c.src.Malformed}, {descAdmission, c.src.AdmissionRefused}, {descPosts, posts}} {
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

// queueGauges writes a queue's length and the age of its oldest entry
// (0 with none).
func queueGauges(ch chan<- prometheus.Metric, length, age *prometheus.Desc, read func() (int, time.Time)) {
	n, oldest := read()
	a := 0.0
	if !oldest.IsZero() {
		a = max(time.Since(oldest).Seconds(), 0)
	}
	ch <- prometheus.MustNewConstMetric(length, prometheus.GaugeValue, float64(n))
	ch <- prometheus.MustNewConstMetric(age, prometheus.GaugeValue, a)
}
