// Package events tells the platform about calls: it builds each call
// attempt's record and events (call.initiated, call.ringing, call.answered,
// call.released, call.blocked) and queues them in the store's outbox with the
// call change they report (Call), and delivers the outbox to webhooks,
// signed, in order per call, retried with back-off for a day and then kept
// as dead letters (Dispatcher).
//
// It knows nothing of SIP: the engine says what happened in plain fields
// (a SIP status is a number here).
package events
