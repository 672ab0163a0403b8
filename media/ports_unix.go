//go:build unix

package media

import (
	"net/netip"
	"syscall"
)

// drainer discards the datagrams queued on a socket without waiting for
// more. It reads the descriptor directly: Go's own read with a past deadline
// returns before asking the kernel, so it cannot empty a buffer. Its state
// lives in the pair so that a drain allocates nothing unless it has sources
// to note.
type drainer struct {
	fn      func(fd uintptr) bool // read callback, made once per pair
	scratch []byte
	strays  *strays
	n       int
	err     error
}

func (d *drainer) init() { d.fn = d.readAll }

// drain discards what is queued and adds the senders to st, as long as it
// has room.
func (d *drainer) drain(raw syscall.RawConn, scratch []byte, st *strays) (int, error) {
	d.scratch, d.strays, d.n, d.err = scratch, st, 0, nil
	err := raw.Read(d.fn)
	d.scratch, d.strays = nil, nil
	if err == nil {
		err = d.err
	}
	return d.n, err
}

// readAll reads until the socket would block. It always reports done: it
// must never wait for a datagram.
func (d *drainer) readAll(fd uintptr) bool {
	for d.n < maxDrain {
		var err error
		if d.strays.full() {
			_, err = syscall.Read(int(fd), d.scratch)
		} else {
			var from syscall.Sockaddr
			// Recvfrom allocates the address; it is only called while
			// there is room to note it.
			if _, from, err = syscall.Recvfrom(int(fd), d.scratch, 0); err == nil {
				if a, ok := sockaddrAddrPort(from); ok {
					d.strays.add(a)
				}
			}
		}
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

// sockaddrAddrPort converts a received datagram's source the way the net
// package's ReadFromUDPAddrPort does, so that the two compare equal.
func sockaddrAddrPort(sa syscall.Sockaddr) (netip.AddrPort, bool) {
	switch sa := sa.(type) {
	case *syscall.SockaddrInet4:
		return netip.AddrPortFrom(netip.AddrFrom4(sa.Addr), uint16(sa.Port)), true
	case *syscall.SockaddrInet6:
		return netip.AddrPortFrom(netip.AddrFrom16(sa.Addr), uint16(sa.Port)), true
	}
	return netip.AddrPort{}, false
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
