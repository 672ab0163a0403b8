// Command dtmfpcap writes the pcap a phone's RTP stream would make while
// someone keys digits on it, for SIPp's play_pcap_audio:
//
//	go run ./internal/dtmfpcap/cmd/dtmfpcap -o keys.pcap 1234#
//
// PCMU silence with RFC 4733 telephone-events (payload type 101 unless
// -pt says otherwise), one event per key.
package main

import (
	"bufio"
	"flag"
	"fmt"
	"os"

	"github.com/xbridge/xbridge/internal/dtmfpcap"
)

func main() {
	if err := run(os.Args[1:]); err != nil {
		fmt.Fprintln(os.Stderr, "dtmfpcap:", err)
		os.Exit(2)
	}
}

func run(args []string) error {
	fs := flag.NewFlagSet("dtmfpcap", flag.ContinueOnError)
	out := fs.String("o", "", "the pcap file to write (required)")
	pt := fs.Uint("pt", dtmfpcap.DefaultPayloadType, "payload type of telephone-event, as the SDP offers it")
	key := fs.Duration("key", dtmfpcap.DefaultKeyTime, "how long each key is held")
	gap := fs.Duration("gap", dtmfpcap.DefaultGap, "from one key's release to the next key, and audio after the last")
	leadIn := fs.Duration("lead-in", dtmfpcap.DefaultLeadIn, "audio before the first key")
	noAudio := fs.Bool("no-audio", false, "events only, no PCMU silence around them")
	fs.Usage = func() {
		fmt.Fprintln(fs.Output(), "usage: dtmfpcap -o FILE [flags] KEYS   (KEYS: 0-9 * # A-D, e.g. 1234#)")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *out == "" || fs.NArg() != 1 {
		fs.Usage()
		return fmt.Errorf("need -o FILE and one KEYS argument")
	}
	if *pt > 127 {
		return fmt.Errorf("-pt %d: a payload type is 7 bits", *pt)
	}
	opts := []dtmfpcap.Option{dtmfpcap.WithPayloadType(uint8(*pt)),
		dtmfpcap.WithKeyTime(*key), dtmfpcap.WithGap(*gap), dtmfpcap.WithLeadIn(*leadIn)}
	if *noAudio {
		opts = append(opts, dtmfpcap.WithoutAudio())
	}
	packets, err := dtmfpcap.Keys(fs.Arg(0), opts...)
	if err != nil {
		return err
	}
	f, err := os.Create(*out)
	if err != nil {
		return err
	}
	w := bufio.NewWriter(f)
	err = dtmfpcap.WritePcap(w, packets)
	if err == nil {
		err = w.Flush()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	return err
}
