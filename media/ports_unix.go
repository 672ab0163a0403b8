//go:build unix

package media

import (
	"errors"
	"syscall"
)

// drainer discards the datagrams queued on a socket without waiting for
// more. It reads the descriptor directly: Go's own read with a past deadline
// returns before asking the kernel, so it cannot empty a buffer. Its state
// lives in the pair so that a drain allocates nothing.
type drainer struct {
	fn      func(fd uintptr) bool // read callback, made once per pair
	scratch []byte
	n       int
	err     error
}

var errStillReceiving = errors.New("socket still receiving")

func (d *drainer) init() { d.fn = d.readAll }

func (d *drainer) drain(raw syscall.RawConn, scratch []byte) (int, error) {
	d.scratch, d.n, d.err = scratch, 0, nil
	err := raw.Read(d.fn)
	d.scratch = nil
	if err == nil {
		err = d.err
	}
	return d.n, err
}

// readAll reads until the socket would block. It always reports done: it
// must never wait for a datagram.
func (d *drainer) readAll(fd uintptr) bool {
	for d.n < maxDrain {
		_, err := syscall.Read(int(fd), d.scratch)
		if err == syscall.EINTR {
			continue
		}
		if err != nil {
			if err != syscall.EAGAIN {
				d.err = err
			}
			return true
		}
		d.n++
	}
	d.err = errStillReceiving
	return true
}

// openFileLimit is the process's file descriptor limit (Go raises the soft
// limit to the hard one at start-up), or -1 if unknown or unlimited.
func openFileLimit() int {
	var l syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &l); err != nil || l.Cur > 1<<30 {
		return -1
	}
	return int(l.Cur)
}
