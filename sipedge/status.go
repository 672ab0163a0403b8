package sipedge

import (
	"errors"
	"fmt"

	"github.com/emiago/sipgo/sip"
)

// StatusUnsupportedURIScheme is SIP's 416; sipgo names the code after
// HTTP's (sip.StatusRequestedRangeNotSatisfiable).
const StatusUnsupportedURIScheme = 416

// reasonPhrases is the one table of the phrases the engine puts on its
// status lines (RFC 3261 21 and the extensions it answers with). A peer's
// phrase never crosses: it is free text and may carry anything.
var reasonPhrases = map[int]string{
	sip.StatusTrying:                       "Trying",
	sip.StatusRinging:                      "Ringing",
	sip.StatusCallIsForwarded:              "Call Is Being Forwarded",
	sip.StatusQueued:                       "Queued",
	sip.StatusSessionInProgress:            "Session Progress",
	sip.StatusOK:                           "OK",
	sip.StatusBadRequest:                   "Bad Request",
	sip.StatusForbidden:                    "Forbidden",
	sip.StatusNotFound:                     "Not Found",
	sip.StatusMethodNotAllowed:             "Method Not Allowed",
	sip.StatusNotAcceptable:                "Not Acceptable",
	sip.StatusRequestTimeout:               "Request Timeout",
	sip.StatusUnsupportedMediaType:         "Unsupported Media Type",
	StatusUnsupportedURIScheme:             "Unsupported URI Scheme",
	sip.StatusBadExtension:                 "Bad Extension",
	sip.StatusTemporarilyUnavailable:       "Temporarily Unavailable",
	sip.StatusCallTransactionDoesNotExists: "Call/Transaction Does Not Exist",
	sip.StatusTooManyHops:                  "Too Many Hops",
	sip.StatusAddressIncomplete:            "Address Incomplete",
	sip.StatusBusyHere:                     "Busy Here",
	sip.StatusRequestTerminated:            "Request Terminated",
	sip.StatusNotAcceptableHere:            "Not Acceptable Here",
	sip.StatusRequestPending:               "Request Pending",
	sip.StatusInternalServerError:          "Server Internal Error",
	sip.StatusNotImplemented:               "Not Implemented",
	sip.StatusServiceUnavailable:           "Service Unavailable",
	sip.StatusVersionNotSupported:          "Version Not Supported",
	sip.StatusGlobalBusyEverywhere:         "Busy Everywhere",
	sip.StatusGlobalDecline:                "Decline",
	sip.StatusGlobalDoesNotExistAnywhere:   "Does Not Exist Anywhere",
	sip.StatusGlobalNotAcceptable:          "Not Acceptable",
}

// classPhrases name the codes the table does not, by their class.
var classPhrases = [...]string{1: "Progress", 2: "OK", 4: "Request Failure", 5: "Server Failure", 6: "Global Failure"}

// ReasonPhrase is the engine's phrase for a status code.
func ReasonPhrase(code int) string {
	if p, ok := reasonPhrases[code]; ok {
		return p
	}
	if c := code / 100; c >= 0 && c < len(classPhrases) && classPhrases[c] != "" {
		return classPhrases[c]
	}
	return "Unknown"
}

// StatusError is an error that says which SIP status a request it stops is
// answered with.
type StatusError struct {
	Code   int
	Reason string // empty: ReasonPhrase(Code)
	Err    error  // what caused it, for the log; never sent
}

// Errorf returns a *StatusError with code, caused by the formatted error.
func Errorf(code int, format string, args ...any) error {
	return &StatusError{Code: code, Err: fmt.Errorf(format, args...)}
}

// Phrase is the reason phrase the response carries.
func (e *StatusError) Phrase() string {
	if e.Reason != "" {
		return e.Reason
	}
	return ReasonPhrase(e.Code)
}

func (e *StatusError) Error() string {
	if e.Err != nil {
		return fmt.Sprintf("%d %s: %v", e.Code, e.Phrase(), e.Err)
	}
	return fmt.Sprintf("%d %s", e.Code, e.Phrase())
}

func (e *StatusError) Unwrap() error { return e.Err }

// StatusOf is the status an error asks for: the code of the first
// *StatusError in its chain, else fallback.
func StatusOf(err error, fallback int) int {
	if se, ok := errors.AsType[*StatusError](err); ok {
		return se.Code
	}
	return fallback
}
