package ivr

import (
	"slices"
	"strings"
	"testing"
	"time"
)

// step is one event fed to the menu and the actions it must return, as
// "play enter-extension, lookup 1234" (empty: none).
type step struct {
	at    time.Duration // since the start
	event string        // "start", "start:1234", "done", "digit:1", "timeout", "found", "missing"
	want  string
}

func run(t *testing.T, cfg Config, steps []step) *Menu {
	t.Helper()
	m := NewMenu(cfg)
	t0 := time.Unix(1_700_000_000, 0)
	for i, s := range steps {
		now := t0.Add(s.at)
		var acts []Action
		kind, arg, _ := strings.Cut(s.event, ":")
		switch kind {
		case "start":
			acts = m.Start(now, arg)
		case "done":
			acts = m.PromptDone(now)
		case "digit":
			for j := 0; j < len(arg); j++ {
				acts = append(acts, m.Digit(now, arg[j])...)
			}
		case "timeout":
			acts = m.Timeout(now)
		case "found":
			acts = m.LookupResult(now, true)
		case "missing":
			acts = m.LookupResult(now, false)
		default:
			t.Fatalf("step %d: unknown event %q", i, s.event)
		}
		var got []string
		for _, a := range acts {
			got = append(got, a.String())
		}
		if g := strings.Join(got, ", "); g != s.want {
			t.Fatalf("step %d (%s at %v): actions %q, want %q", i, s.event, s.at, g, s.want)
		}
	}
	return m
}

func TestMenu(t *testing.T) {
	const s = time.Second
	four := DefaultConfig()
	hashOnly := DefaultConfig()
	hashOnly.ExtensionLength = 0
	for _, tc := range []struct {
		name  string
		cfg   Config
		steps []step
		found bool
		tries int
	}{
		{
			name: "four digits end the extension without #",
			cfg:  four,
			steps: []step{
				{0, "start", "play enter-extension"},
				{3 * s, "done", ""},
				{4 * s, "digit:123", ""},
				{5 * s, "digit:4", "lookup 1234"},
				{5 * s, "found", ""},
			},
			found: true, tries: 1,
		},
		{
			name: "# ends a shorter extension",
			cfg:  hashOnly,
			steps: []step{
				{0, "start", "play enter-extension"},
				{3 * s, "done", ""},
				{4 * s, "digit:12#", "lookup 12"},
				{4 * s, "found", ""},
			},
			found: true, tries: 1,
		},
		{
			name: "barge-in: a digit during the prompt stops it and counts",
			cfg:  four,
			steps: []step{
				{0, "start", "play enter-extension"},
				{1 * s, "digit:1", "stop-playback"},
				{2 * s, "digit:234", "lookup 1234"},
				{2 * s, "found", ""},
			},
			found: true, tries: 1,
		},
		{
			name: "pause-dialled digits right after the answer",
			cfg:  four,
			steps: []step{
				{0, "start", "play enter-extension"},
				{0, "digit:1234", "stop-playback, lookup 1234"},
				{0, "found", ""},
			},
			found: true, tries: 1,
		},
		{
			name: "wrong then right extension",
			cfg:  four,
			steps: []step{
				{0, "start", "play enter-extension"},
				{3 * s, "done", ""},
				{4 * s, "digit:9999", "lookup 9999"},
				{4 * s, "missing", "play not-found-retry"},
				{6 * s, "done", ""},
				{7 * s, "digit:1234", "lookup 1234"},
				{7 * s, "found", ""},
			},
			found: true, tries: 2,
		},
		{
			name: "three wrong extensions: goodbye, then hang up when it has played",
			cfg:  four,
			steps: []step{
				{0, "start", "play enter-extension"},
				{1 * s, "digit:1111", "stop-playback, lookup 1111"},
				{1 * s, "missing", "play not-found-retry"},
				{2 * s, "digit:2222", "stop-playback, lookup 2222"},
				{2 * s, "missing", "play not-found-retry"},
				{3 * s, "digit:3333", "stop-playback, lookup 3333"},
				{3 * s, "missing", "play goodbye"},
				{4 * s, "digit:4444", ""}, // too late: nothing is collected
				{5 * s, "done", "hangup"},
			},
			tries: 3,
		},
		{
			name: "first-digit timeout counts from the prompt's end and asks again",
			cfg:  four,
			steps: []step{
				{0, "start", "play enter-extension"},
				{3 * s, "done", ""},
				{12 * s, "timeout", ""}, // early: the deadline is 13 s
				{13 * s, "timeout", "play enter-extension"},
				{15 * s, "done", ""},
				{25 * s, "timeout", "play enter-extension"},
				{27 * s, "done", ""},
				{37 * s, "timeout", "play goodbye"},
				{39 * s, "done", "hangup"},
			},
			tries: 3,
		},
		{
			name: "inter-digit timeout ends a short extension",
			cfg:  four,
			steps: []step{
				{0, "start", "play enter-extension"},
				{3 * s, "done", ""},
				{4 * s, "digit:12", ""},
				{8 * s, "timeout", ""},
				{9 * s, "timeout", "lookup 12"},
				{9 * s, "missing", "play not-found-retry"},
			},
			tries: 1,
		},
		{
			name: "* starts the extension again",
			cfg:  four,
			steps: []step{
				{0, "start", "play enter-extension"},
				{3 * s, "done", ""},
				{4 * s, "digit:12*", ""},
				{5 * s, "digit:5678", "lookup 5678"},
			},
			tries: 1,
		},
		{
			name: "digits in the dialled number skip the prompt",
			cfg:  four,
			steps: []step{
				{0, "start:1234", "lookup 1234"},
				{0, "found", ""},
			},
			found: true, tries: 1,
		},
		{
			name: "wrong digits in the dialled number: asked again, one try used",
			cfg:  four,
			steps: []step{
				{0, "start:9999", "lookup 9999"},
				{0, "missing", "play not-found-retry"},
				{1 * s, "digit:1234", "stop-playback, lookup 1234"},
				{1 * s, "missing", "play not-found-retry"},
				{2 * s, "digit:1235", "stop-playback, lookup 1235"},
				{2 * s, "missing", "play goodbye"},
			},
			tries: 3,
		},
		{
			name: "keys while a lookup is out and other symbols are ignored",
			cfg:  four,
			steps: []step{
				{0, "start", "play enter-extension"},
				{1 * s, "digit:A", "stop-playback"},
				{1 * s, "digit:B1234", "lookup 1234"},
				{1 * s, "digit:5", ""},
				{1 * s, "found", ""},
				{1 * s, "found", ""},
			},
			found: true, tries: 1,
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			m := run(t, tc.cfg, tc.steps)
			if m.Found() != tc.found {
				t.Errorf("found %v, want %v", m.Found(), tc.found)
			}
			hungUp := tc.steps[len(tc.steps)-1].want == "hangup"
			if m.Over() != (tc.found || hungUp) {
				t.Errorf("over %v, want %v", m.Over(), tc.found || hungUp)
			}
			if m.Tries() != tc.tries {
				t.Errorf("tries %d, want %d", m.Tries(), tc.tries)
			}
		})
	}
}

// A caller keying digits forever with '#'-only extensions is bounded.
func TestMenuBoundsDigits(t *testing.T) {
	cfg := DefaultConfig()
	cfg.ExtensionLength = 0
	m := NewMenu(cfg)
	now := time.Unix(0, 0)
	m.Start(now, "")
	for range 10_000 {
		m.Digit(now, '7')
	}
	acts := m.Digit(now, '#')
	if !slices.ContainsFunc(acts, func(a Action) bool { return a.Kind == Lookup && len(a.Digits) == maxDigits }) {
		t.Fatalf("actions %v, want a lookup of %d digits", acts, maxDigits)
	}
}
