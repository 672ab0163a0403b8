package events

// Q850 is the Q.850 cause for a SIP status, as RFC 3398 section 8.2.6.1
// maps them (the mapping RFC 3326 Reason headers and carriers' CDRs use);
// 200 (a call released normally) is 16, normal clearing.
func Q850(status int) int {
	switch status {
	case 200:
		return 16
	case 401, 402, 403, 407, 603:
		return 21 // call rejected
	case 404, 485, 604:
		return 1 // unallocated number
	case 405:
		return 63 // service or option not available
	case 406, 415, 501:
		return 79 // service or option not implemented
	case 408, 504:
		return 102 // recovery on timer expiry
	case 410:
		return 22 // number changed
	case 480:
		return 18 // no user responding
	case 484:
		return 28 // invalid number format
	case 482, 483:
		return 25 // exchange routing error
	case 486, 600:
		return 17 // user busy
	case 502:
		return 38 // network out of order
	case 400, 481, 500, 503:
		return 41 // temporary failure
	case 606:
		return 58 // bearer capability not available
	}
	switch {
	case status >= 200 && status < 300:
		return 16
	case status >= 400 && status < 700:
		return 127 // interworking, unspecified
	}
	return 31 // normal, unspecified
}
