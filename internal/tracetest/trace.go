package tracetest

import "time"

// Trace is one parsed scenario file: the setup the test must provide and the
// steps the replayer plays against the engine.
type Trace struct {
	// Name is the file's base name without extension; tests use it as the
	// subtest name.
	Name string
	// Title is the one-line description from the "trace" line.
	Title string
	// Bindings are created, in order, before the first step.
	Bindings []Binding
	// Engine holds the engine options the trace needs.
	Engine EngineOptions
	// Skip, when set, is why the trace cannot pass yet (an engine bug it
	// exposes); the test skips it saying so instead of failing the build.
	Skip string

	hidden []hidden
	steps  []step
}

// Binding is a binding the trace needs, named so later steps can refer to it.
type Binding struct {
	Name string
	// Model is "axb" (the default, written as "") or "axe"; an AXE
	// binding has A and Extension instead of B.
	Model     string
	X, A, B   string
	Extension string
	TTL       time.Duration
}

// EngineOptions are the engine settings a trace asks for; zero means the
// engine's default.
type EngineOptions struct {
	AnswerTimeout time.Duration
	// Prompts is the language of the prompts the engine plays when it
	// answers a call itself (AXE); "" gives it none.
	Prompts string
	// FirstDigit, InterDigit and Tries are the extension menu's.
	FirstDigit, InterDigit time.Duration
	Tries                  int
}

// Side is one of the two SIP peers the replayer plays.
type Side int

const (
	// Carrier sends A legs to the engine and receives what A would see.
	Carrier Side = iota
	// Trunk is the outbound trunk: it receives B legs and sees what B would.
	Trunk
)

func (s Side) String() string {
	if s == Trunk {
		return "trunk"
	}
	return "carrier"
}

// hidden is text that must never appear in any message a side receives: the
// privacy invariant, checked on every datagram including absorbed ones.
type hidden struct {
	line int
	side Side
	text string // template
}

type stepKind int

const (
	stepSend    stepKind = iota // side sends a raw message template
	stepReply                   // side answers a received request
	stepExpect                  // side must receive a message
	stepSilence                 // side must receive nothing for a while
	stepWait                    // pause
	stepDelete                  // api delete binding
	stepCreate                  // api create binding
)

type step struct {
	line int
	kind stepKind
	side Side

	// what is the method or the status code sent or expected.
	what string
	// reason is the reply's reason phrase.
	reason string
	// to is the CSeq method a reply answers or an expected response is for.
	to string
	// within bounds an expect; for silence and wait it is the duration.
	within time.Duration

	// template is the message (send) or extra headers and body (reply).
	template string
	// tmplLine is the file line the template starts on.
	tmplLine int

	checks  []check
	binding Binding // create; delete uses binding.Name
}

// check is one matcher line under an expect.
type check struct {
	line    int
	text    string // the line as written, for failure reports
	subject subject
	op      string // ==, !=, contains, !contains, matches, absent, present, capture
	value   string // template, or the capture's variable name
}

// subject is what a check looks at in a received message.
type subject struct {
	kind string // header, ruri, status, reason, body, message, sdp
	name string // header name, or sdp field (c=, port, addr ...)
	part string // user, host, uri, display, or a parameter name
}
