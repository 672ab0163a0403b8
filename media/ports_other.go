//go:build !unix

package media

import (
	"errors"
	"syscall"
)

// drainer fails where descriptors cannot be read directly, so a pair handed
// out again is bound afresh, as empty as a new socket.
type drainer struct{}

func (*drainer) init() {}

func (*drainer) drain(syscall.RawConn, []byte, *strays) (int, error) {
	return 0, errors.New("draining a socket is not supported on this platform")
}

func openFileLimit() int { return -1 }
