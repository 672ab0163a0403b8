package media

// Side names a leg of the call.
type Side int

const (
	SideA Side = iota // the caller's leg
	SideB             // the callee's leg
)

func (s Side) other() Side { return 1 - s }

func (s Side) valid() bool { return s == SideA || s == SideB }

func (s Side) String() string {
	switch s {
	case SideA:
		return "A"
	case SideB:
		return "B"
	}
	return "invalid"
}

// kind tells the RTP socket of a port pair from its RTCP socket.
type kind int

const (
	kindRTP kind = iota
	kindRTCP
)

func (k kind) String() string {
	if k == kindRTCP {
		return "rtcp"
	}
	return "rtp"
}
