// Command xbridge is the privacy-number engine: a SIP back-to-back user
// agent that bridges a buyer and a courier through a middle number X.
//
//	xbridge serve    run the engine (SIP, RTP relay, HTTP API)
//	xbridge demo     run a masked call between two simulated phones
//	xbridge pool, bind, binding, calls, records, events
//	                 manage a running engine through its HTTP API (admin.go)
//	xbridge version  print the version
//	xbridge help     print this help
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"runtime/debug"
	"syscall"

	"github.com/emiago/sipgo/sip"

	"github.com/xbridge/xbridge/sipedge"
)

// version is set at link time: -ldflags "-X main.version=v1.2.3".
var version = "dev"

func main() {
	// The first signal starts an orderly shutdown, which is bounded in time.
	// Signals stay caught until then: some supervisors (timeout(1), process
	// group kills) deliver the same signal twice, and a second delivery must
	// not cut the shutdown short.
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	setSIPLimits()
	tuneGC(os.LookupEnv)
	code := run(ctx, os.Args[1:], os.Stdout, os.Stderr, os.LookupEnv)
	stop()
	os.Exit(code)
}

// setSIPLimits sets sipgo's UDP message limit for the process. sipgo reads
// it from a package variable on every send, so it is set here, once, before
// the first user agent exists, and never by a constructor.
func setSIPLimits() { sip.UDPMTUSize = sipedge.UDPMTUSize }

// run dispatches a subcommand and returns the process exit code: 0 success,
// 1 failure at run time, 2 bad usage or configuration.
func run(ctx context.Context, args []string, stdout, stderr io.Writer, env environ) int {
	if len(args) == 0 {
		writeHelp(stderr)
		return 2
	}
	cmd, rest := args[0], args[1:]
	var err error
	switch cmd {
	case "serve":
		var cfg Config
		if cfg, err = loadServeConfig(rest, env, stdout); err == nil {
			log := newLogger(stderr, cfg.LogFormat, cfg.LogLevel)
			routeSIPLogs(log)
			err = serve(ctx, cfg, log, nil)
		}
	case "demo":
		var cfg demoConfig
		if cfg, err = loadDemoConfig(rest, env, stdout); err == nil {
			log := newLogger(stderr, cfg.LogFormat, cfg.LogLevel)
			routeSIPLogs(log)
			err = demo(ctx, cfg, log, stdout)
		}
	case "pool", "bind", "binding", "calls", "records", "events", "lookup":
		err = runAdmin(ctx, cmd, rest, stdout, env)
	case "version", "--version", "-version":
		fmt.Fprintln(stdout, versionString())
		return 0
	case "help", "--help", "-help", "-h":
		writeHelp(stdout)
		return 0
	default:
		fmt.Fprintf(stderr, "xbridge: unknown command %q\n\n", cmd)
		writeHelp(stderr)
		return 2
	}
	switch {
	case err == nil:
		return 0
	case errors.Is(err, flag.ErrHelp):
		return 0
	case isUsage(err):
		fmt.Fprintf(stderr, "xbridge %s: %v\n", cmd, err)
		return 2
	default:
		fmt.Fprintf(stderr, "xbridge %s: %v\n", cmd, err)
		return 1
	}
}

func writeHelp(w io.Writer) {
	fmt.Fprint(w, `xbridge is a privacy-number engine: a SIP B2BUA that lets A and B call each
other through a middle number X without either learning the other's number.

Usage:
  xbridge serve [flags]   run the engine (SIP on UDP+TCP, RTP relay, HTTP API)
  xbridge demo [flags]    run one masked call between two simulated phones
  xbridge version         print the version
  xbridge help            print this help

Run "xbridge serve --help" for the flags and their XBRIDGE_* environment variables.

`+adminHelp)
}

// versionString reports the link-time version and, when the binary carries
// them, the VCS revision and Go version it was built from.
func versionString() string {
	s := "xbridge " + version
	bi, ok := debug.ReadBuildInfo()
	if !ok {
		return s
	}
	var rev, dirty string
	for _, kv := range bi.Settings {
		switch kv.Key {
		case "vcs.revision":
			rev = kv.Value
		case "vcs.modified":
			if kv.Value == "true" {
				dirty = "+dirty"
			}
		}
	}
	if rev != "" {
		if len(rev) > 12 {
			rev = rev[:12]
		}
		s += " (" + rev + dirty + ")"
	}
	return s + " " + bi.GoVersion
}
