package main

import (
	"bytes"
	"context"
	"net/netip"
	"strings"
	"testing"

	"github.com/rs/zerolog"
)

// TestConfigExposure: SIP off loopback with no source list, or the API off
// loopback without a token, refuses to start and says why; --insecure (as a
// flag, in the environment or the config file) lets it start.
func TestConfigExposure(t *testing.T) {
	const sipOpen = "--sip 192.0.2.10:5060 is not a loopback address and --trusted is empty"
	const apiOpen = "is not a loopback address and neither --api-token nor --api-tokens is set"
	public := []string{"--sip", "192.0.2.10:5060"}
	tests := []struct {
		name string
		args []string
		env  map[string]string
		file string
		want []string // substrings of the refusal; none: it starts
	}{
		{name: "loopback defaults start", args: nil},
		{name: "other loopback addresses start", args: []string{"--sip", "127.0.0.9:5060", "--api", "[::1]:8080"}},
		{name: "api on localhost starts", args: []string{"--api", "localhost:8080"}},
		{name: "sip public, no source list", args: public, want: []string{"refusing to start", sipOpen, "set --trusted", "--insecure"}},
		{name: "sip on every v4 interface", args: []string{"--sip", "0.0.0.0:5060", "--media-ip", "192.0.2.10"}, want: []string{"--sip 0.0.0.0:5060 is not a loopback"}},
		{name: "sip on every v6 interface", args: []string{"--sip", "[::]:5060", "--media-ip", "2001:db8::1"}, want: []string{"--sip [::]:5060 is not a loopback"}},
		{name: "sip public, trusted trunks", args: append([]string{"--trusted", "192.0.2.0/24"}, public...)},
		{name: "sip public, allowed sources only", args: append([]string{"--allow", "198.51.100.0/24"}, public...)},
		{name: "api on every interface, no token", args: []string{"--api", "0.0.0.0:8080"}, want: []string{"--api 0.0.0.0:8080 " + apiOpen, "set --api-token"}},
		{name: "api with empty host, no token", args: []string{"--api", ":8080"}, want: []string{"--api :8080 " + apiOpen}},
		{name: "api on a name, no token", args: []string{"--api", "api.example:8080"}, want: []string{"--api api.example:8080 " + apiOpen}},
		{name: "api public with token", args: []string{"--api", "0.0.0.0:8080", "--api-token", "s3cret"}},
		{name: "both exposed: both reasons", args: append([]string{"--api", "0.0.0.0:8080"}, public...), want: []string{sipOpen, "--api 0.0.0.0:8080 " + apiOpen}},
		{name: "insecure flag", args: append([]string{"--insecure", "--api", "0.0.0.0:8080"}, public...)},
		{name: "insecure=true", args: append([]string{"--insecure=true"}, public...)},
		{name: "insecure=false", args: append([]string{"--insecure=false"}, public...), want: []string{sipOpen}},
		{name: "insecure from the environment", args: public, env: map[string]string{"XBRIDGE_INSECURE": "1"}},
		{name: "insecure from the config file", args: public, file: `{"insecure":true}`},
		{name: "insecure false in the config file", args: public, file: `{"insecure":false}`, want: []string{sipOpen}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			args := tt.args
			if tt.file != "" {
				args = append([]string{"--config", writeConfig(t, tt.file)}, args...)
			}
			c, err := loadServeConfig(args, mapEnv(tt.env), &bytes.Buffer{})
			if len(tt.want) == 0 {
				if err != nil {
					t.Fatalf("refused: %v", err)
				}
				return
			}
			if err == nil {
				t.Fatalf("started with %+v", c)
			}
			if !isUsage(err) {
				t.Errorf("%v is not a usage error", err)
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("refusal %q does not say %q", err, w)
				}
			}
		})
	}
}

func TestConfigEdgeSettings(t *testing.T) {
	c, err := loadServeConfig([]string{"--allow", "198.51.100.0/24, 2001:db8::7", "--max-calls", "0",
		"--max-cps", "50", "--max-cps-per-source", "5"}, mapEnv(nil), &bytes.Buffer{})
	if err != nil {
		t.Fatal(err)
	}
	eq(t, "allow", strings.Join(prefixStrings(c.Allowed), ","), "198.51.100.0/24,2001:db8::7/128")
	eq(t, "max-calls", c.MaxCalls, 0)
	eq(t, "max-cps", c.MaxCPS, 50)
	eq(t, "max-cps-per-source", c.MaxCPSPerSource, 5)
	eq(t, "insecure", c.Insecure, false)

	c, err = loadServeConfig(nil, mapEnv(map[string]string{"XBRIDGE_MAX_CPS": "7", "XBRIDGE_ALLOW": "10.0.0.0/8"}), &bytes.Buffer{})
	if err != nil {
		t.Fatal(err)
	}
	eq(t, "max-cps from env", c.MaxCPS, 7)
	eq(t, "allow from env", strings.Join(prefixStrings(c.Allowed), ","), "10.0.0.0/8")

	for _, tt := range []struct {
		args []string
		file string
		want string
	}{
		{args: []string{"--allow", "10.0.0.1/8"}, want: "--allow"},
		{args: []string{"--allow", "pbx.example"}, want: `--allow: "pbx.example"`},
		{args: []string{"--insecure=maybe"}, want: `--insecure: "maybe"`},
		{args: []string{"--max-calls", "-1"}, want: "--max-calls"},
		{args: []string{"--max-cps", "lots"}, want: "--max-cps"},
		{args: []string{"--max-cps-per-source", "1.5"}, want: "--max-cps-per-source"},
		{file: `{"allow":true}`, want: `key "allow"`},
		{file: `{"max-calls":true}`, want: `key "max-calls"`},
	} {
		args := tt.args
		if tt.file != "" {
			args = []string{"--config", writeConfig(t, tt.file)}
		}
		_, err := loadServeConfig(args, mapEnv(nil), &bytes.Buffer{})
		if err == nil || !isUsage(err) || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%v %s: err %v, want a usage error naming %s", tt.args, tt.file, err, tt.want)
		}
	}
}

// TestServeRefusesExposedStart: the binary's serve exits 2 with the reason
// before it binds anything.
func TestServeRefusesExposedStart(t *testing.T) {
	var out, errOut bytes.Buffer
	code := run(context.Background(), []string{"serve", "--data", t.TempDir(), "--sip", "192.0.2.10:5060"}, &out, &errOut, mapEnv(nil))
	if code != 2 || !strings.Contains(errOut.String(), "refusing to start") || !strings.Contains(errOut.String(), "--insecure") {
		t.Fatalf("exit %d, stderr %q; want 2 and the reason", code, errOut.String())
	}
}

// TestWarnExposure: an engine let in by --insecure says, at warn level,
// what is exposed; a secure one says nothing.
func TestWarnExposure(t *testing.T) {
	exposed := Config{SIP: netip.MustParseAddrPort("192.0.2.10:5060"), API: "0.0.0.0:8080", Insecure: true}
	var buf bytes.Buffer
	warnExposure(zerolog.New(&buf), exposed)
	lines := strings.Split(strings.TrimSpace(buf.String()), "\n")
	if len(lines) != 2 || !strings.Contains(lines[0], `"level":"warn"`) || !strings.Contains(lines[0], "--trusted is empty") ||
		!strings.Contains(lines[1], "neither --api-token nor --api-tokens is set") {
		t.Fatalf("warnings:\n%s", buf.String())
	}
	buf.Reset()
	safe := exposed
	safe.Trusted = []netip.Prefix{netip.MustParsePrefix("192.0.2.0/24")}
	safe.APIToken = "t"
	warnExposure(zerolog.New(&buf), safe)
	if buf.Len() != 0 {
		t.Fatalf("a secure configuration warned:\n%s", buf.String())
	}
}

func TestAdmittedCallsHeldToTheRelay(t *testing.T) {
	for _, tc := range []struct{ max, relay, want int }{
		{2000, 1000, 1000}, // the flood's range: 2,000 pairs, 1,000 calls
		{500, 1000, 500},
		{0, 1000, 0}, // no limit stays no limit: the relay's 503 is the limit
		{1000, 1000, 1000},
	} {
		if got := admittedCalls(tc.max, tc.relay); got != tc.want {
			t.Errorf("admittedCalls(%d, %d) = %d, want %d", tc.max, tc.relay, got, tc.want)
		}
	}
}
