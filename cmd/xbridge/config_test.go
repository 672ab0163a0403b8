package main

import (
	"bytes"
	"context"
	"io"
	"net/netip"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/xbridge/xbridge/number"
)

// mapEnv is an environment for tests; the real one is never read.
func mapEnv(m map[string]string) environ {
	return func(k string) (string, bool) { v, ok := m[k]; return v, ok }
}

// writeConfig writes a config file into a temp dir and returns its path.
func writeConfig(t *testing.T, body string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "xbridge.json")
	if err := os.WriteFile(p, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestConfigDefaults(t *testing.T) {
	c, err := loadServeConfig(nil, mapEnv(nil), &bytes.Buffer{})
	if err != nil {
		t.Fatal(err)
	}
	want := Config{
		DataDir:         "./xbridge-data",
		SIP:             netip.MustParseAddrPort("127.0.0.1:5060"),
		API:             "127.0.0.1:8080",
		Trunk:           "127.0.0.1:5080",
		TrunkTransport:  "udp",
		PortMin:         20000,
		PortMax:         29999,
		LearningWindow:  3 * time.Second,
		MediaIP:         netip.MustParseAddr("127.0.0.1"),
		LogFormat:       "json",
		LogLevel:        zerolog.InfoLevel,
		Country:         number.DefaultCountry(),
		TrunkNumbers:    number.Trunk{Style: number.PlusE164, UserPhone: true, Country: number.DefaultCountry()},
		Quarantine:      24 * time.Hour,
		RecordRetention: 30 * 24 * time.Hour,
		EventRetry:      24 * time.Hour,
		SMSGrace:        72 * time.Hour,
		SMSRetryMin:     10 * time.Second,
		SMSRetryMax:     10 * time.Minute,
		AnswerTimeout:   60 * time.Second,
		// Calls always end: 60 s of silence, an hour on hold, 4 h at most.
		RTPTimeout:      60 * time.Second,
		RTPHoldTimeout:  time.Hour,
		MaxCallDuration: 4 * time.Hour,
		PromptLang:      "zh",

		MaxCalls:        2000,
		MaxCPS:          1200,
		MaxCPSPerSource: 300,
	}
	if c.Trusted != nil {
		t.Errorf("Trusted = %v, want none", c.Trusted)
	}
	if !reflect.DeepEqual(c, want) {
		t.Errorf("defaults:\n got %+v\nwant %+v", c, want)
	}
}

func TestConfigPrecedence(t *testing.T) {
	fileSIP := `{"sip":"127.0.0.2:5062","trunk":"10.9.9.9:5090","default-country":44,"quarantine":"1h","rtp-learning-window":"1500ms"}`
	tests := []struct {
		name  string
		file  string // config file body; its path is given by fileVia
		via   string // "flag", "env" or "" (no file)
		env   map[string]string
		args  []string
		check func(t *testing.T, c Config)
	}{
		{
			name: "file over defaults",
			file: fileSIP, via: "flag",
			check: func(t *testing.T, c Config) {
				eq(t, "sip", c.SIP.String(), "127.0.0.2:5062")
				eq(t, "default-country (JSON number)", c.Country.Region(), "GB")
				eq(t, "media-ip follows file's sip", c.MediaIP.String(), "127.0.0.2")
				eq(t, "api stays default", c.API, "127.0.0.1:8080")
				eq(t, "rtp-learning-window from file", c.LearningWindow, 1500*time.Millisecond)
			},
		},
		{
			name: "env over file",
			file: fileSIP, via: "flag",
			env: map[string]string{"XBRIDGE_SIP": "127.0.0.3:5063", "XBRIDGE_QUARANTINE": "2h"},
			check: func(t *testing.T, c Config) {
				eq(t, "sip", c.SIP.String(), "127.0.0.3:5063")
				eq(t, "quarantine", c.Quarantine.String(), "2h0m0s")
				eq(t, "trunk from file", c.Trunk, "10.9.9.9:5090")
			},
		},
		{
			name: "flag over env over file",
			file: fileSIP, via: "flag",
			env:  map[string]string{"XBRIDGE_SIP": "127.0.0.3:5063", "XBRIDGE_TRUNK": "127.0.0.8:5080"},
			args: []string{"--sip", "127.0.0.4:5064", "--quarantine=3h"},
			check: func(t *testing.T, c Config) {
				eq(t, "sip", c.SIP.String(), "127.0.0.4:5064")
				eq(t, "quarantine", c.Quarantine.String(), "3h0m0s")
				eq(t, "trunk from env", c.Trunk, "127.0.0.8:5080")
				eq(t, "default-country from file", c.Country.Region(), "GB")
			},
		},
		{
			name: "config path from XBRIDGE_CONFIG",
			file: fileSIP, via: "env",
			check: func(t *testing.T, c Config) {
				eq(t, "sip", c.SIP.String(), "127.0.0.2:5062")
			},
		},
		{
			name: "env set to empty overrides a default",
			env:  map[string]string{"XBRIDGE_TRUSTED": "", "XBRIDGE_API_TOKEN": "s3cret"},
			check: func(t *testing.T, c Config) {
				eq(t, "api-token", c.APIToken, "s3cret")
				if len(c.Trusted) != 0 {
					t.Errorf("trusted = %v, want none", c.Trusted)
				}
			},
		},
		{
			name: "explicit media-ip beats the sip host",
			args: []string{"--sip", "127.0.0.5:5060", "--media-ip", "127.0.0.6"},
			check: func(t *testing.T, c Config) {
				eq(t, "media-ip", c.MediaIP.String(), "127.0.0.6")
			},
		},
		{
			name: "every setting from the environment",
			env: map[string]string{
				"XBRIDGE_DATA": "/tmp/x", "XBRIDGE_SIP": "127.0.0.1:6060", "XBRIDGE_API": "127.0.0.1:9090",
				"XBRIDGE_TRUNK": "trunk.example:5080", "XBRIDGE_TRUNK_TRANSPORT": "tcp",
				"XBRIDGE_RTP_PORTS": "30000-30099", "XBRIDGE_MEDIA_IP": "127.0.0.9",
				"XBRIDGE_LOG_FORMAT": "console", "XBRIDGE_LOG_LEVEL": "debug", "XBRIDGE_DEFAULT_COUNTRY": "us",
				"XBRIDGE_TRUNK_NUMBER_FORMAT": "national0", "XBRIDGE_TRUNK_PREFIX": "10193", "XBRIDGE_TRUNK_USER_PHONE": "true",
				"XBRIDGE_TRUSTED": "127.0.0.0/8, ::1", "XBRIDGE_API_TOKEN": "t",
				"XBRIDGE_QUARANTINE": "0s", "XBRIDGE_ANSWER_TIMEOUT": "5s", "XBRIDGE_RTP_LEARNING_WINDOW": "0s",
				"XBRIDGE_RTP_TIMEOUT": "30s", "XBRIDGE_RTP_HOLD_TIMEOUT": "0", "XBRIDGE_MAX_CALL_DURATION": "2h",
			},
			check: func(t *testing.T, c Config) {
				eq(t, "data", c.DataDir, "/tmp/x")
				eq(t, "sip", c.SIP.String(), "127.0.0.1:6060")
				eq(t, "api", c.API, "127.0.0.1:9090")
				eq(t, "trunk", c.Trunk, "trunk.example:5080")
				eq(t, "trunk-transport", c.TrunkTransport, "tcp")
				eq(t, "rtp-ports", [2]int{c.PortMin, c.PortMax}, [2]int{30000, 30099})
				eq(t, "media-ip", c.MediaIP.String(), "127.0.0.9")
				eq(t, "log-format", c.LogFormat, "console")
				eq(t, "log-level", c.LogLevel, zerolog.DebugLevel)
				eq(t, "default-country", c.Country.Region(), "US")
				eq(t, "trunk-number-format", c.TrunkNumbers.Style, number.National0)
				eq(t, "trunk-prefix", c.TrunkNumbers.Prefix, "10193")
				eq(t, "trunk-user-phone", c.TrunkNumbers.UserPhone, true)
				eq(t, "trunk country is the default country", c.TrunkNumbers.Country, c.Country)
				eq(t, "trusted", len(c.Trusted), 2)
				eq(t, "trusted[1]", c.Trusted[1].String(), "::1/128")
				eq(t, "api-token", c.APIToken, "t")
				eq(t, "quarantine", c.Quarantine, time.Duration(0))
				eq(t, "answer-timeout", c.AnswerTimeout, 5*time.Second)
				eq(t, "rtp-timeout", c.RTPTimeout, 30*time.Second)
				eq(t, "rtp-hold-timeout", c.RTPHoldTimeout, time.Duration(0))
				eq(t, "max-call-duration", c.MaxCallDuration, 2*time.Hour)
				eq(t, "rtp-learning-window", c.LearningWindow, time.Duration(0))
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			env := map[string]string{}
			for k, v := range tt.env {
				env[k] = v
			}
			args := tt.args
			if tt.file != "" {
				p := writeConfig(t, tt.file)
				switch tt.via {
				case "flag":
					args = append([]string{"--config", p}, args...)
				case "env":
					env["XBRIDGE_CONFIG"] = p
				}
			}
			c, err := loadServeConfig(args, mapEnv(env), &bytes.Buffer{})
			if err != nil {
				t.Fatalf("load: %v", err)
			}
			tt.check(t, c)
		})
	}
}

func TestConfigFlagChoosesFileOverEnv(t *testing.T) {
	fromEnv := writeConfig(t, `{"sip":"127.0.0.2:5060"}`)
	fromFlag := writeConfig(t, `{"sip":"127.0.0.3:5060"}`)
	c, err := loadServeConfig([]string{"--config", fromFlag}, mapEnv(map[string]string{"XBRIDGE_CONFIG": fromEnv}), &bytes.Buffer{})
	if err != nil {
		t.Fatal(err)
	}
	eq(t, "sip", c.SIP.String(), "127.0.0.3:5060")
	eq(t, "config", c.ConfigFile, fromFlag)
}

func TestConfigErrors(t *testing.T) {
	tests := []struct {
		name string
		args []string
		file string // when set, passed with --config
		want string // substring of the error; names the flag or key
	}{
		{"empty data", []string{"--data", ""}, "", "--data: must not be empty"},
		{"sip not an address", []string{"--sip", "nowhere"}, "", "--sip"},
		{"sip hostname", []string{"--sip", "localhost:5060"}, "", "--sip"},
		{"sip port zero", []string{"--sip", "127.0.0.1:0"}, "", "--sip"},
		{"sip port too big", []string{"--sip", "127.0.0.1:70000"}, "", "--sip"},
		{"api without port", []string{"--api", "127.0.0.1"}, "", "--api"},
		{"api port not a number", []string{"--api", "127.0.0.1:http"}, "", "--api"},
		{"api same as sip", []string{"--api", "127.0.0.1:5060"}, "", "--api: 127.0.0.1:5060 is also the --sip"},
		{"trunk without host", []string{"--trunk", ":5080"}, "", "--trunk"},
		{"trunk without port", []string{"--trunk", "carrier.example"}, "", "--trunk"},
		{"trunk transport", []string{"--trunk-transport", "sctp"}, "", "--trunk-transport"},
		{"rtp-ports single", []string{"--rtp-ports", "20000"}, "", "--rtp-ports"},
		{"rtp-ports words", []string{"--rtp-ports", "low-high"}, "", "--rtp-ports"},
		{"rtp-ports reversed", []string{"--rtp-ports", "30000-20001"}, "", "min not below max"},
		{"rtp-ports odd start", []string{"--rtp-ports", "20001-29999"}, "", "even port"},
		{"rtp-ports odd size", []string{"--rtp-ports", "20000-29998"}, "", "odd number of ports"},
		{"rtp-ports privileged", []string{"--rtp-ports", "100-201"}, "", "1024-65535"},
		{"rtp-ports beyond 65535", []string{"--rtp-ports", "65000-65537"}, "", "1024-65535"},
		{"rtp-ports one pair", []string{"--rtp-ports", "20000-20001"}, "", "too small"},
		{"media-ip not an IP", []string{"--media-ip", "media.example"}, "", "--media-ip"},
		{"media-ip unspecified", []string{"--media-ip", "0.0.0.0"}, "", "--media-ip"},
		{"sip on any address needs media-ip", []string{"--sip", "0.0.0.0:5060"}, "", "--media-ip: must be set"},
		{"log-format", []string{"--log-format", "xml"}, "", "--log-format"},
		{"log-level", []string{"--log-level", "loud"}, "", "--log-level"},
		{"log-level empty", []string{"--log-level", ""}, "", "--log-level"},
		{"default-country unknown region", []string{"--default-country", "XX"}, "", "--default-country"},
		{"default-country unassigned code", []string{"--default-country", "289"}, "", "--default-country"},
		{"default-country non-geographic", []string{"--default-country", "800"}, "", "--default-country"},
		{"default-country long", []string{"--default-country", "8612"}, "", "--default-country"},
		{"default-country empty", []string{"--default-country", ""}, "", "--default-country"},
		{"country-code is gone", []string{"--country-code", "86"}, "", "country-code"},
		{"trunk-number-format", []string{"--trunk-number-format", "E.164"}, "", "--trunk-number-format"},
		{"trunk-number-format case", []string{"--trunk-number-format", "National"}, "", "--trunk-number-format"},
		{"trunk-prefix letters", []string{"--trunk-number-format", "e164", "--trunk-prefix", "10x93"}, "", "--trunk-prefix"},
		{"trunk-prefix with +e164", []string{"--trunk-prefix", "10193"}, "", "--trunk-prefix: a tech prefix cannot stand before a +E.164"},
		{"trunk-prefix too long", []string{"--trunk-number-format", "national", "--trunk-prefix", "12345678901234567"}, "", "--trunk-prefix"},
		{"trunk-user-phone", []string{"--trunk-user-phone", "yes please"}, "", "--trunk-user-phone"},
		{"config trunk-number-format names flag", nil, `{"trunk-number-format":"tel"}`, "--trunk-number-format"},
		{"trusted bad bits", []string{"--trusted", "10.0.0.0/33"}, "", "--trusted"},
		{"trusted word", []string{"--trusted", "127.0.0.0/8,carrier"}, "", `--trusted: "carrier"`},
		{"trusted host bits", []string{"--trusted", "127.0.0.1/8"}, "", "host bits"},
		{"quarantine words", []string{"--quarantine", "1 day"}, "", "--quarantine"},
		{"quarantine negative", []string{"--quarantine", "-1h"}, "", "--quarantine"},
		{"answer-timeout zero", []string{"--answer-timeout", "0s"}, "", "--answer-timeout"},
		{"rtp-learning-window negative", []string{"--rtp-learning-window", "-1s"}, "", "--rtp-learning-window"},
		{"rtp-learning-window bare number", []string{"--rtp-learning-window", "3"}, "", "--rtp-learning-window"},
		{"rtp-learning-window too long", []string{"--rtp-learning-window", "2m"}, "", "above the maximum"},
		{"answer-timeout bare number", []string{"--answer-timeout", "60"}, "", "--answer-timeout"},
		{"api-token with space", []string{"--api-token", "a b"}, "", "--api-token"},
		{"rtp-timeout words", []string{"--rtp-timeout", "a minute"}, "", "--rtp-timeout"},
		{"rtp-timeout negative", []string{"--rtp-timeout", "-1s"}, "", "--rtp-timeout"},
		{"rtp-timeout too short", []string{"--rtp-timeout", "20ms"}, "", "--rtp-timeout: 20ms is below the minimum"},
		{"rtp-hold-timeout below rtp-timeout", []string{"--rtp-timeout", "2m", "--rtp-hold-timeout", "1m"}, "", "--rtp-hold-timeout: 1m0s is shorter than --rtp-timeout 2m0s"},
		{"rtp-hold-timeout below the default rtp-timeout", []string{"--rtp-hold-timeout", "30s"}, "", "--rtp-hold-timeout"},
		{"max-call-duration bare number", []string{"--max-call-duration", "3600"}, "", "--max-call-duration"},
		{"max-call-duration too short", []string{"--max-call-duration", "1ms"}, "", "--max-call-duration"},
		{"config limit names flag", nil, `{"rtp-timeout":"-5s"}`, "--rtp-timeout"},
		{"unknown flag", []string{"--bogus", "1"}, "", "bogus"},
		{"stray argument", []string{"now"}, "", `unexpected argument "now"`},
		{"config missing", []string{"--config", "/nonexistent/xbridge.json"}, "", "--config"},
		{"config unknown key", nil, `{"sip":"127.0.0.1:5060","rtp_ports":"1-2"}`, `unknown key "rtp_ports"`},
		{"config names config", nil, `{"config":"other.json"}`, `unknown key "config"`},
		{"config not JSON", nil, `sip = 127.0.0.1`, "not a JSON object"},
		{"config array", nil, `["sip"]`, "not a JSON object"},
		{"config trailing", nil, `{} {}`, "trailing data"},
		{"config bool value", nil, `{"trusted":true}`, `key "trusted"`},
		{"config bad value names flag", nil, `{"rtp-ports":"9-8"}`, "--rtp-ports"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			args := tt.args
			if tt.file != "" {
				args = append([]string{"--config", writeConfig(t, tt.file)}, args...)
			}
			_, err := loadServeConfig(args, mapEnv(nil), &bytes.Buffer{})
			if err == nil {
				t.Fatalf("no error for %v", args)
			}
			if !isUsage(err) {
				t.Errorf("error %v is not a usage error", err)
			}
			if !strings.Contains(err.Error(), tt.want) {
				t.Errorf("error %q does not contain %q", err, tt.want)
			}
		})
	}
}

func TestEnvErrorNamesFlag(t *testing.T) {
	_, err := loadServeConfig(nil, mapEnv(map[string]string{"XBRIDGE_RTP_PORTS": "20000-20000"}), &bytes.Buffer{})
	if err == nil || !strings.Contains(err.Error(), "--rtp-ports") {
		t.Fatalf("err = %v, want one naming --rtp-ports", err)
	}
}

func TestDemoConfig(t *testing.T) {
	c, err := loadDemoConfig(nil, mapEnv(nil), &bytes.Buffer{})
	if err != nil {
		t.Fatal(err)
	}
	eq(t, "packets", c.Packets, 50)
	eq(t, "timeout", c.Timeout, 15*time.Second)
	eq(t, "transport", c.Transport, "udp")
	for _, args := range [][]string{{"--packets", "0"}, {"--packets", "many"}, {"--timeout", "soon"}, {"--log-level", "x"}, {"--transport", "sctp"}} {
		if _, err := loadDemoConfig(args, mapEnv(nil), &bytes.Buffer{}); err == nil || !strings.Contains(err.Error(), args[0]) {
			t.Errorf("%v: err = %v, want one naming %s", args, err, args[0])
		}
	}
}

func TestHelpListsEveryFlag(t *testing.T) {
	for _, tt := range []struct {
		cmd      string
		settings []setting
		layers   string
	}{
		{"serve", serveSettings, "flags > environment > config file > defaults"},
		{"demo", demoSettings, "flags > environment > defaults"},
	} {
		t.Run(tt.cmd, func(t *testing.T) {
			var out, errOut bytes.Buffer
			code := run(context.Background(), []string{tt.cmd, "--help"}, &out, &errOut, mapEnv(nil))
			if code != 0 {
				t.Fatalf("exit %d, stderr %q", code, errOut.String())
			}
			help := out.String()
			if !strings.Contains(help, "Precedence: "+tt.layers+".") {
				t.Errorf("help does not state the precedence %q:\n%s", tt.layers, help)
			}
			for _, s := range tt.settings {
				for _, want := range []string{"--" + s.name + "\n", envName(s.name)} {
					if !strings.Contains(help, want) {
						t.Errorf("help lacks %q:\n%s", want, help)
					}
				}
				if s.def != "" && !strings.Contains(help, `default "`+s.def+`"`) {
					t.Errorf("help lacks default of --%s", s.name)
				}
			}
		})
	}
}

func TestRunExitCodes(t *testing.T) {
	tests := []struct {
		args       []string
		code       int
		wantStdout string
		wantStderr string
	}{
		{[]string{"serve", "--rtp-ports", "1-2"}, 2, "", "--rtp-ports"},
		{[]string{"serve", "--config", "/nonexistent.json"}, 2, "", "--config"},
		{[]string{"demo", "--packets", "-1"}, 2, "", "--packets"},
		{[]string{"version"}, 0, "xbridge ", ""},
		{[]string{"help"}, 0, "xbridge serve", ""},
		{[]string{"frobnicate"}, 2, "", `unknown command "frobnicate"`},
		{nil, 2, "", "Usage:"},
	}
	for _, tt := range tests {
		t.Run(strings.Join(tt.args, " "), func(t *testing.T) {
			var out, errOut bytes.Buffer
			code := run(context.Background(), tt.args, &out, &errOut, mapEnv(nil))
			if code != tt.code {
				t.Errorf("exit %d, want %d (stderr %q)", code, tt.code, errOut.String())
			}
			if !strings.Contains(out.String(), tt.wantStdout) {
				t.Errorf("stdout %q lacks %q", out.String(), tt.wantStdout)
			}
			if !strings.Contains(errOut.String(), tt.wantStderr) {
				t.Errorf("stderr %q lacks %q", errOut.String(), tt.wantStderr)
			}
		})
	}
}

func TestEnvName(t *testing.T) {
	for in, want := range map[string]string{"data": "XBRIDGE_DATA", "rtp-ports": "XBRIDGE_RTP_PORTS", "answer-timeout": "XBRIDGE_ANSWER_TIMEOUT"} {
		eq(t, in, envName(in), want)
	}
}

func eq[T comparable](t *testing.T, what string, got, want T) {
	t.Helper()
	if got != want {
		t.Errorf("%s = %v, want %v", what, got, want)
	}
}

// BenchmarkLoadServeConfig measures the whole layering and validation with
// a config file, environment and flags all in play.
func BenchmarkLoadServeConfig(b *testing.B) {
	p := filepath.Join(b.TempDir(), "xbridge.json")
	if err := os.WriteFile(p, []byte(`{"sip":"127.0.0.2:5062","trusted":"127.0.0.0/8,10.0.0.0/8","default-country":44}`), 0o600); err != nil {
		b.Fatal(err)
	}
	env := mapEnv(map[string]string{"XBRIDGE_RTP_PORTS": "30000-39999", "XBRIDGE_API_TOKEN": "t"})
	args := []string{"--config", p, "--quarantine", "1h"}
	for b.Loop() {
		if _, err := loadServeConfig(args, env, io.Discard); err != nil {
			b.Fatal(err)
		}
	}
}

// The user=phone default follows the format unless set.
func TestConfigTrunkUserPhone(t *testing.T) {
	for _, tt := range []struct {
		args []string
		want bool
	}{
		{nil, true},
		{[]string{"--trunk-user-phone", "false"}, false},
		{[]string{"--trunk-number-format", "e164"}, false},
		{[]string{"--trunk-number-format", "national"}, false},
		{[]string{"--trunk-number-format", "national0", "--trunk-user-phone", "1"}, true},
	} {
		c, err := loadServeConfig(tt.args, mapEnv(nil), &bytes.Buffer{})
		if err != nil {
			t.Fatalf("%v: %v", tt.args, err)
		}
		if c.TrunkNumbers.UserPhone != tt.want {
			t.Errorf("%v: user=phone %v, want %v", tt.args, c.TrunkNumbers.UserPhone, tt.want)
		}
	}
}
