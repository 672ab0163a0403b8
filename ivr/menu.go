package ivr

import (
	"fmt"
	"time"
)

// Prompt names what the menu asks to play. The engine maps each to a
// recording (the pool's, else the default in testdata/prompts).
type Prompt string

const (
	PromptEnterExtension Prompt = "enter-extension"    // "please enter the extension, then #"
	PromptNotFound       Prompt = "not-found-retry"    // "extension not found, please try again"
	PromptGoodbye        Prompt = "goodbye"            // before the engine hangs up
	PromptUnavailable    Prompt = "callee-unavailable" // A did not answer, was busy or unreachable
	PromptNoCallback     Prompt = "no-callback"        // A called X with nobody to call back
	PromptUnknownNumber  Prompt = "unknown-number"     // a pool's announce policy
	PromptRecorded       Prompt = "call-recorded"      // to both parties before a recorded call is bridged
)

// Config is the menu's limits. Zero fields take the defaults of the issue
// (DefaultConfig).
type Config struct {
	// ExtensionLength ends collection when that many digits are in, without
	// waiting for '#'; 0 waits for '#' or the inter-digit timeout.
	ExtensionLength int
	// FirstDigit is how long the caller has, once the prompt has played,
	// to key the first digit (default 10 s).
	FirstDigit time.Duration
	// InterDigit is how long the caller has for each further digit
	// (default 5 s); it then counts as the end of the extension.
	InterDigit time.Duration
	// Tries is how many extensions the caller may key (default 3); a
	// first-digit timeout counts as one.
	Tries int
}

// DefaultConfig is the menu of an AXE pool with 4-digit extensions.
func DefaultConfig() Config {
	return Config{ExtensionLength: 4, FirstDigit: 10 * time.Second, InterDigit: 5 * time.Second, Tries: 3}
}

func (c Config) withDefaults() Config {
	d := DefaultConfig()
	if c.FirstDigit <= 0 {
		c.FirstDigit = d.FirstDigit
	}
	if c.InterDigit <= 0 {
		c.InterDigit = d.InterDigit
	}
	if c.Tries <= 0 {
		c.Tries = d.Tries
	}
	if c.ExtensionLength < 0 {
		c.ExtensionLength = 0
	}
	return c
}

// maxDigits bounds what one try collects without '#', so a caller keying
// forever cannot grow the menu's memory.
const maxDigits = 16

// ActionKind is what the menu asks the call to do.
type ActionKind uint8

const (
	// Play starts Action.Prompt towards the caller, replacing any prompt
	// playing. A digit keyed meanwhile is still collected (barge-in).
	Play ActionKind = iota + 1
	// StopPlayback ends the prompt playing, at once: the caller has
	// started keying.
	StopPlayback
	// Lookup asks whether Action.Digits is an extension of the call's X;
	// answer with LookupResult.
	Lookup
	// Hangup ends the call once the prompt playing has finished
	// (PromptDone); nothing else is collected.
	Hangup
)

func (k ActionKind) String() string {
	switch k {
	case Play:
		return "play"
	case StopPlayback:
		return "stop-playback"
	case Lookup:
		return "lookup"
	case Hangup:
		return "hangup"
	}
	return fmt.Sprintf("action(%d)", uint8(k))
}

// Action is one thing the menu asks for.
type Action struct {
	Kind   ActionKind
	Prompt Prompt // Play
	Digits string // Lookup
}

func (a Action) String() string {
	switch a.Kind {
	case Play:
		return "play " + string(a.Prompt)
	case Lookup:
		return "lookup " + a.Digits
	}
	return a.Kind.String()
}

// phase is where the menu is.
type phase uint8

const (
	phaseIdle       phase = iota // not started
	phasePrompting               // a prompt asking for digits plays
	phaseCollecting              // the prompt is over or was cut short: digits are awaited
	phaseLooking                 // a Lookup is out
	phaseLeaving                 // the goodbye plays; Hangup when it ends
	phaseFound                   // the extension was found
	phaseHungUp                  // the caller was sent away
)

// Menu collects an extension from a caller. It is not safe for concurrent
// use: the call's goroutine owns it. Every method returns the actions to
// run, in order.
type Menu struct {
	cfg      Config
	phase    phase
	digits   []byte
	tries    int       // extensions keyed (or timed out) so far
	deadline time.Time // zero: no timer runs
}

// NewMenu returns a menu with cfg's limits.
func NewMenu(cfg Config) *Menu {
	return &Menu{cfg: cfg.withDefaults(), digits: make([]byte, 0, maxDigits)}
}

// Start begins the menu: the caller hears the prompt asking for the
// extension. With digits already known (the dialled number carried them,
// "X;ext=1234"), they are looked up at once instead.
func (m *Menu) Start(now time.Time, dialled string) []Action {
	if m.phase != phaseIdle {
		return nil
	}
	if dialled != "" {
		m.phase = phaseLooking
		m.tries = 1
		return []Action{{Kind: Lookup, Digits: dialled}}
	}
	return m.prompt(PromptEnterExtension)
}

func (m *Menu) prompt(p Prompt) []Action {
	m.phase, m.deadline = phasePrompting, time.Time{}
	m.digits = m.digits[:0]
	return []Action{{Kind: Play, Prompt: p}}
}

// PromptDone tells the menu the prompt it asked for has played to its end
// (not when it was stopped). The first-digit timer starts then.
func (m *Menu) PromptDone(now time.Time) []Action {
	switch m.phase {
	case phasePrompting:
		m.phase, m.deadline = phaseCollecting, now.Add(m.cfg.FirstDigit)
	case phaseLeaving:
		m.phase, m.deadline = phaseHungUp, time.Time{}
		return []Action{{Kind: Hangup}}
	}
	return nil
}

// Digit takes one key: 0-9, '*' (start the extension again), '#' (end
// it). Others are ignored, as are keys while a lookup is out or the
// goodbye plays.
func (m *Menu) Digit(now time.Time, d byte) []Action {
	if m.phase != phasePrompting && m.phase != phaseCollecting {
		return nil
	}
	var acts []Action
	if m.phase == phasePrompting {
		acts = append(acts, Action{Kind: StopPlayback}) // barge-in
		m.phase = phaseCollecting
	}
	switch {
	case d == '#':
		return append(acts, m.lookup()...)
	case d == '*':
		m.digits = m.digits[:0]
	case d >= '0' && d <= '9':
		if len(m.digits) < maxDigits {
			m.digits = append(m.digits, d)
		}
		if n := m.cfg.ExtensionLength; n > 0 && len(m.digits) >= n {
			return append(acts, m.lookup()...)
		}
	default:
		if len(acts) == 0 {
			return nil
		}
	}
	m.deadline = now.Add(m.cfg.InterDigit)
	return acts
}

func (m *Menu) lookup() []Action {
	m.tries++
	m.phase, m.deadline = phaseLooking, time.Time{}
	return []Action{{Kind: Lookup, Digits: string(m.digits)}}
}

// Deadline is when Timeout should be called; zero when no timer runs.
func (m *Menu) Deadline() time.Time { return m.deadline }

// Timeout tells the menu its deadline has passed. Digits keyed so far are
// the extension; with none, the try is lost and the caller asked again.
func (m *Menu) Timeout(now time.Time) []Action {
	if m.deadline.IsZero() || now.Before(m.deadline) {
		return nil
	}
	if m.phase != phaseCollecting {
		return nil
	}
	if len(m.digits) > 0 {
		return m.lookup()
	}
	m.tries++
	return m.retry(PromptEnterExtension)
}

// LookupResult answers the menu's Lookup. Found ends the menu (the call
// goes to the extension's party); not found asks again, or says goodbye
// once the tries are used up.
func (m *Menu) LookupResult(now time.Time, found bool) []Action {
	if m.phase != phaseLooking {
		return nil
	}
	if found {
		m.phase = phaseFound
		return nil
	}
	return m.retry(PromptNotFound)
}

func (m *Menu) retry(p Prompt) []Action {
	if m.tries >= m.cfg.Tries {
		m.phase, m.deadline = phaseLeaving, time.Time{}
		return []Action{{Kind: Play, Prompt: PromptGoodbye}}
	}
	return m.prompt(p)
}

// Found reports whether the last lookup found the extension: the menu is
// over and the call goes to the extension's party.
func (m *Menu) Found() bool { return m.phase == phaseFound }

// Over reports whether the menu has finished, found or hung up.
func (m *Menu) Over() bool { return m.phase == phaseFound || m.phase == phaseHungUp }

// Tries is how many extensions the caller has keyed (or let time out).
func (m *Menu) Tries() int { return m.tries }
