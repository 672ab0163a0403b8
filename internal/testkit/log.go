package testkit

import (
	"bytes"
	"os"
	"strings"
	"sync"
	"testing"

	"github.com/rs/zerolog"
)

// failLogLines is how many of the code's last log lines a failed test
// prints: enough to follow one call's last seconds, few enough that a
// torture test's failure stays readable.
const failLogLines = 400

// Logger is the logger a test hands the code under test. With
// XBRIDGE_TEST_LOG set, every line goes to the test's log as it is
// written. Otherwise the last failLogLines lines are kept and printed
// only if the test fails: a flake seen once under CI load must leave
// enough behind to be explained.
func Logger(t testing.TB) zerolog.Logger {
	if os.Getenv("XBRIDGE_TEST_LOG") != "" {
		return zerolog.New(zerolog.NewTestWriter(t)).With().Timestamp().Logger()
	}
	r := &lineRing{max: failLogLines}
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("the code's last %d log lines:\n%s", failLogLines, r.String())
		}
	})
	return zerolog.New(r).With().Timestamp().Logger()
}

// lineRing keeps the last max lines written to it.
type lineRing struct {
	mu    sync.Mutex
	max   int
	lines []string
	next  int
}

func (r *lineRing) Write(p []byte) (int, error) {
	line := strings.TrimRight(string(p), "\n")
	r.mu.Lock()
	defer r.mu.Unlock()
	if len(r.lines) < r.max {
		r.lines = append(r.lines, line)
	} else {
		r.lines[r.next] = line
		r.next = (r.next + 1) % r.max
	}
	return len(p), nil
}

func (r *lineRing) String() string {
	r.mu.Lock()
	defer r.mu.Unlock()
	var b strings.Builder
	for i := range r.lines {
		b.WriteString(r.lines[(r.next+i)%len(r.lines)])
		b.WriteByte('\n')
	}
	return b.String()
}

// LogBuffer collects log output written from several goroutines.
type LogBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *LogBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *LogBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}
