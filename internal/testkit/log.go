package testkit

import (
	"bytes"
	"os"
	"sync"
	"testing"

	"github.com/rs/zerolog"
)

// Logger is the logger a test hands the code under test: silent, unless
// XBRIDGE_TEST_LOG is set, then every line goes to the test's log.
func Logger(t testing.TB) zerolog.Logger {
	if os.Getenv("XBRIDGE_TEST_LOG") != "" {
		return zerolog.New(zerolog.NewTestWriter(t)).With().Timestamp().Logger()
	}
	return zerolog.Nop()
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
