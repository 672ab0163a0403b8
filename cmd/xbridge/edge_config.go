package main

import (
	"flag"
	"fmt"
	"net"
	"net/netip"
	"strconv"
	"strings"

	"github.com/rs/zerolog"

	"github.com/xbridge/xbridge/sipedge"
)

// The edge settings: who may call, whose word on the caller counts, how
// many calls are taken, and what it takes to listen beyond this machine.
//
// The overload defaults are sized from docs/PERFORMANCE.md: on the
// project's 2-core machine, with SIPp on the same cores, the engine
// completed 1,200 calls/s in every clean ramp (1,500 in some, 2,000 in
// none), so --max-cps is 1,200: the rate it still completes, not the rate
// where it starts to fail. --max-cps-per-source holds sources outside
// --trusted (the carriers' trunks carry everyone's calls from a few
// addresses and are held only by --max-cps): one such source may take a
// quarter of the engine, 300 calls/s, and leave the rest to the trunks.
// --max-calls is 2,000:
// the relay forwards ~200k packets/s on those cores, 2,000 G.711 calls
// (100 packets/s each); the default --rtp-ports hold 2,500.

// switches are the settings that are on or off: given bare (--insecure)
// they mean true; environment and config file say true or false.
var switches = map[string]bool{"insecure": true}

// switchValue is a flag.Value that flag treats as boolean (IsBoolFlag), so
// the bare flag is accepted, and that keeps its text for the layering.
type switchValue struct{ s string }

func (v *switchValue) String() string     { return v.s }
func (v *switchValue) Set(s string) error { v.s = s; return nil }
func (v *switchValue) IsBoolFlag() bool   { return true }

// switchFlag registers a switch on fs and returns where its text lands.
func switchFlag(fs *flag.FlagSet, s setting) *string {
	v := &switchValue{s: s.def}
	fs.Var(v, s.name, s.usage)
	return &v.s
}

// parseEdgeConfig reads the edge settings into c and refuses a
// configuration that exposes the engine without saying --insecure. It runs
// after every other setting is parsed: the exposure check reads --sip,
// --api, --trusted and --api-token.
func parseEdgeConfig(v map[string]string, c *Config) error {
	var err error
	if c.Allowed, err = parsePrefixes("allow", v["allow"]); err != nil {
		return err
	}
	if c.Insecure, err = strconv.ParseBool(v["insecure"]); err != nil {
		return usageError("--insecure: %q is not true or false", v["insecure"])
	}
	if c.MaxCalls, err = parseLimit("max-calls", v["max-calls"]); err != nil {
		return err
	}
	if c.MaxCPS, err = parseLimit("max-cps", v["max-cps"]); err != nil {
		return err
	}
	if c.MaxCPSPerSource, err = parseLimit("max-cps-per-source", v["max-cps-per-source"]); err != nil {
		return err
	}
	if why := exposure(*c); len(why) > 0 && !c.Insecure {
		return usageError("refusing to start: %s. Pass --insecure to run like this anyway", strings.Join(why, "; "))
	}
	return nil
}

// parseLimit reads a count where 0 means no limit.
func parseLimit(name, s string) (int, error) {
	n, err := strconv.Atoi(s)
	if err != nil || n < 0 || n > 1_000_000 {
		return 0, usageError("--%s: %q is not a count between 0 (no limit) and 1000000", name, s)
	}
	return n, nil
}

// exposure says, one sentence each, how the configuration lets anyone who
// can reach this machine in: SIP off loopback with no source list accepts
// calls from everyone and believes any P-Asserted-Identity, so anyone can
// ring any bound party as the other; the API off loopback without a token
// lets anyone read, create and delete bindings. Empty when neither holds.
func exposure(c Config) []string {
	var why []string
	if !c.SIP.Addr().Unmap().IsLoopback() && len(c.Trusted) == 0 && len(c.Allowed) == 0 {
		why = append(why, fmt.Sprintf("--sip %s is not a loopback address and --trusted is empty, "+
			"so calls would be taken from any source and any caller's P-Asserted-Identity believed; "+
			"set --trusted to the carriers' trunk ranges (and --allow to other sources that may call)", c.SIP))
	}
	if !loopbackHost(c.API) && c.APIToken == "" && len(c.APITokens) == 0 {
		why = append(why, fmt.Sprintf("--api %s is not a loopback address and neither --api-token nor --api-tokens is set, "+
			"so anyone who reaches it could read, create and delete bindings; set --api-token", c.API))
	}
	return why
}

// loopbackHost reports whether a host:port listens on loopback only. An
// empty host is every interface; a name other than localhost is not
// resolved here and counts as exposed.
func loopbackHost(hostport string) bool {
	host, _, err := net.SplitHostPort(hostport)
	if err != nil {
		return false
	}
	if host == "localhost" {
		return true
	}
	ip, err := netip.ParseAddr(host)
	return err == nil && ip.Unmap().IsLoopback()
}

// warnExposure logs, when --insecure let an exposed configuration start,
// what is exposed: once per reason, at startup.
func warnExposure(log zerolog.Logger, c Config) {
	if !c.Insecure {
		return
	}
	for _, why := range exposure(c) {
		log.Warn().Str("exposure", why).Msg("running insecure (--insecure)")
	}
}

// newAdmission turns the limits into the engine's admission control;
// trusted sources (trusted) are not held by the per-source rate.
func newAdmission(c Config, trusted func(netip.Addr) bool) *sipedge.Admission {
	return sipedge.NewAdmission(sipedge.Limits{
		MaxCalls:     c.MaxCalls, // see admittedCalls
		CPS:          float64(c.MaxCPS),
		CPSPerSource: float64(c.MaxCPSPerSource),
	}, sipedge.WithSourceExempt(trusted))
}

func prefixStrings(ps []netip.Prefix) []string {
	out := make([]string, len(ps))
	for i, p := range ps {
		out[i] = p.String()
	}
	return out
}

// admittedCalls is --max-calls held to what the relay can carry: a call
// admitted past the relay's capacity would only be refused a moment later
// for lack of ports, after routing and a store lookup, and under a flood,
// when setup slows and more calls are in progress at once, admission would
// let in calls the relay then turns away (sipp-flood.sh saw it, with the
// default 2,000 calls over a range of 2,000 pairs). 0 (no limit) stays 0:
// the relay's own refusal (503 with Retry-After) is then the limit.
func admittedCalls(maxCalls, relayCalls int) int {
	if maxCalls > relayCalls {
		return relayCalls
	}
	return maxCalls
}
