// Package media anchors a call's media: it relays RTP and RTCP between the two
// legs through its own UDP ports, allocates those ports from a configured
// range, and rewrites SDP so that neither party learns the other's address.
//
// media knows nothing of SIP or bindings. The signalling layer creates a
// Session per call and passes every SDP body it receives through
// Session.Rewrite, sending the result to the other leg:
//
//	sess := relay.NewSession(log)
//	defer sess.Close()
//	offerToB, err := sess.Rewrite(media.SideA, offerFromA)
//	...
//	answerToA, err := sess.Rewrite(media.SideB, answerFromB)
//
// Every packet is forwarded as received (any codec, SRTP included); the relay
// only checks that it looks like RTP/RTCP (version 2).
package media
