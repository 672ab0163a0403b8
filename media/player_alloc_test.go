package media

import (
	"net"
	"net/netip"
	"sync/atomic"
	"testing"
	"time"

	"github.com/xbridge/xbridge/internal/testkit"
)

// sinkSender is an rtpSender writing to a socket nobody reads much.
func sinkSender(t testing.TB) *rtpSender {
	conn := testkit.ListenUDP(t)
	sink := testkit.ListenUDP(t)
	to := netip.AddrPortFrom(netip.MustParseAddr("127.0.0.1"), uint16(sink.LocalAddr().(*net.UDPAddr).Port))
	d := new(atomicDest)
	d.Store(&dest{addr: to, sdp: to})
	hears := new(atomic.Bool)
	hears.Store(true)
	return newRTPSender(conn, d, hears, new(atomic.Uint64))
}

// TestPlayerSendAllocatesNothing: a packet the engine plays costs no
// allocation (header written into the stream's buffer, frame encoded
// beforehand, WriteToUDPAddrPort); encoding per packet into a fresh
// buffer, or pion's Packet.Marshal, would allocate and fail it.
func TestPlayerSendAllocatesNothing(t *testing.T) {
	o := sinkSender(t)
	frame := MustTone(ChinaRingback).Frame(PCMU, 0)
	now := time.Now().UnixNano()
	if n := testing.AllocsPerRun(200, func() {
		now += int64(frameDuration)
		o.send(frame, 0, false, now)
	}); n != 0 {
		t.Fatalf("%v allocations per packet played", n)
	}
	if o.sent.Load() == 0 {
		t.Fatal("nothing was sent")
	}
}

// TestEngineTakeAllocatesNothing: a telephone-event from A, decoded and
// queued as a key, costs no allocation on the forwarding loop.
func TestEngineTakeAllocatesNothing(t *testing.T) {
	e := &engine{digits: make(chan Digit, digitQueue)}
	e.format.Store(&audioFormat{ok: true, events: 101})
	w := &EventWriter{PT: 101, SSRC: 1}
	var pkts [][]byte
	for i := range 100 {
		p, err := w.Event('1', uint32(i*1000), 100*time.Millisecond)
		if err != nil {
			t.Fatal(err)
		}
		pkts = append(pkts, p...)
	}
	i := 0
	if n := testing.AllocsPerRun(200, func() {
		e.take(pkts[i%len(pkts)])
		i++
		select {
		case <-e.digits:
		default:
		}
	}); n != 0 {
		t.Fatalf("%v allocations per telephone-event", n)
	}
	if e.decoded.Load() == 0 {
		t.Fatal("no key decoded")
	}
}

// BenchmarkPlayerSend is one played packet: header, copy, send.
func BenchmarkPlayerSend(b *testing.B) {
	o := sinkSender(b)
	frame := MustTone(WarningBeep).Frame(PCMA, 0)
	now := time.Now().UnixNano()
	b.ReportAllocs()
	for b.Loop() {
		now += int64(frameDuration)
		o.send(frame, 8, false, now)
	}
}
