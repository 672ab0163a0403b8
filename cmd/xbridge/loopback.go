package main

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"math/big"
	"net"
	"net/netip"
	"time"

	"github.com/xbridge/xbridge/number"
)

// loopbackRTPPorts is how many relay ports a loopback engine gets. The range
// starts at a random even port so that engines started side by side (tests,
// demos) seldom meet; the relay skips ports that are taken anyway.
const loopbackRTPPorts = 200

// loopbackConfig is a serve configuration on free loopback ports with the
// given data dir, a random API token and only loopback trusted: the demo's
// engine, and the tests'.
func loopbackConfig(dir string) (Config, error) {
	sipAddr, err := freeSIPPort()
	if err != nil {
		return Config{}, err
	}
	apiAddr, err := freeTCPPort()
	if err != nil {
		return Config{}, err
	}
	trunk, err := freeUDPPort()
	if err != nil {
		return Config{}, err
	}
	base, err := rand.Int(rand.Reader, big.NewInt((60000-20000-loopbackRTPPorts)/2))
	if err != nil {
		return Config{}, fmt.Errorf("pick RTP ports: %w", err)
	}
	portMin := 20000 + 2*int(base.Int64())
	token := make([]byte, 16)
	if _, err := rand.Read(token); err != nil {
		return Config{}, fmt.Errorf("make API token: %w", err)
	}
	return Config{
		DataDir:        dir,
		SIP:            sipAddr,
		API:            apiAddr.String(),
		Trunk:          trunk.String(),
		TrunkTransport: "udp",
		PortMin:        portMin,
		PortMax:        portMin + loopbackRTPPorts - 1,
		MediaIP:        sipAddr.Addr(),
		Country:        number.DefaultCountry(),
		TrunkNumbers:   number.DefaultTrunk(),
		Trusted:        []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")},
		APIToken:       hex.EncodeToString(token),
		Quarantine:     time.Minute,
		AnswerTimeout:  5 * time.Second,
		// The serve defaults: no loopback call lasts long enough to meet
		// them unless a test means it to.
		RTPTimeout:      60 * time.Second,
		RTPHoldTimeout:  time.Hour,
		MaxCallDuration: 4 * time.Hour,
	}, nil
}

// freeSIPPort finds a loopback port free for both UDP and TCP, as SIP
// listens on both. Another process may take it before the engine binds; the
// engine then fails to start with a clear error rather than misbehave.
func freeSIPPort() (netip.AddrPort, error) {
	for range 50 {
		tl, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return netip.AddrPort{}, fmt.Errorf("probe TCP port: %w", err)
		}
		ap := unmapped(tl.Addr().(*net.TCPAddr).AddrPort())
		ul, err := net.ListenUDP("udp", net.UDPAddrFromAddrPort(ap))
		tl.Close()
		if err == nil {
			ul.Close()
			return ap, nil
		}
	}
	return netip.AddrPort{}, errors.New("no loopback port free for both UDP and TCP after 50 tries")
}

func freeTCPPort() (netip.AddrPort, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return netip.AddrPort{}, fmt.Errorf("probe TCP port: %w", err)
	}
	defer l.Close()
	return unmapped(l.Addr().(*net.TCPAddr).AddrPort()), nil
}

func freeUDPPort() (netip.AddrPort, error) {
	c, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		return netip.AddrPort{}, fmt.Errorf("probe UDP port: %w", err)
	}
	defer c.Close()
	return unmapped(c.LocalAddr().(*net.UDPAddr).AddrPort()), nil
}

// unmapped drops the IPv4-in-IPv6 form net gives for IPv4 sockets.
func unmapped(ap netip.AddrPort) netip.AddrPort {
	return netip.AddrPortFrom(ap.Addr().Unmap(), ap.Port())
}
