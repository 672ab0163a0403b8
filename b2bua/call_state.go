package b2bua

import (
	"slices"
)

// state is where a call is. The call's goroutine (run) is the only one that
// reads or writes it, one event at a time, so it needs no lock; everything
// else learns of it through the events it posts.
type state uint8

const (
	// stateRouting: A's INVITE is routed, its leg read and the call put in
	// the table; B's INVITE is not sent yet.
	stateRouting state = iota
	// stateBCalling: B's INVITE is out and B has sent nothing but 100, so a
	// CANCEL may not be sent yet (RFC 3261 9.1).
	stateBCalling
	// stateBRinging: B sent a provisional, relayed to A; a CANCEL may go.
	stateBRinging
	// stateAnswered: B answered and is acknowledged (a late offer's ACK
	// waits for A's answer); the 200 is on its way to A, A's ACK awaited.
	stateAnswered
	// stateConfirmed: A acknowledged the 200; both legs are up (a late
	// offer's answer may still be on its way in A's ACK).
	stateConfirmed
	// stateCancelling: the setup is abandoned. A has, or is getting, its
	// final failure; B's INVITE is being cancelled and its 487 awaited.
	stateCancelling
	// stateEnding: BYEs are out on the legs that were up.
	stateEnding
	// stateEnded: the call has left the table and holds nothing.
	stateEnded

	// The states of a call the engine answers itself (AXE, announcements;
	// call_ivr.go). A has its 200 in all three.

	// stateEngineAnswered: the engine answered A and plays it a last
	// prompt (goodbye, callee unavailable, nobody to call back, unknown
	// number); the BYE follows when it has played.
	stateEngineAnswered
	// stateCollecting: the menu runs: A hears a prompt, keys the
	// extension, the engine looks it up.
	stateCollecting
	// stateBCallingFromIVR: B (the extension's party) is being called
	// while A stays on the engine's media: ringback, or B's early media.
	stateBCallingFromIVR

	numStates
)

var stateNames = [numStates]string{
	stateRouting:         "routing",
	stateBCalling:        "b-calling",
	stateBRinging:        "b-ringing",
	stateAnswered:        "answered",
	stateConfirmed:       "confirmed",
	stateCancelling:      "cancelling",
	stateEnding:          "ending",
	stateEnded:           "ended",
	stateEngineAnswered:  "engine-answered",
	stateCollecting:      "collecting",
	stateBCallingFromIVR: "b-calling-from-ivr",
}

func (s state) String() string {
	if s < numStates {
		return stateNames[s]
	}
	return "state?"
}

// engineAnswers reports whether the engine itself is A's other end.
func (s state) engineAnswers() bool { return s >= stateEngineAnswered && s < numStates }

// aUp reports whether A has (or is getting) a 2xx: a BYE ends its dialog.
func (s state) aUp() bool { return s == stateAnswered || s == stateConfirmed || s.engineAnswers() }

// transition is what an event does in a state: do acts and returns the
// state the call moves to, one of to. A pair without a transition changes
// nothing (a timer that outlived its state, a retransmitted ACK).
type transition struct {
	to []state
	do func(c *call, ev event) state
}

func next(to ...state) []state { return to }

// transitions is the call's state machine. The order of the rows follows a
// call's life; the comment of each action says why it does what it does.
var transitions = [numStates][numEventKinds]transition{
	stateRouting: {
		evRouted:      {next(stateBCalling, stateEnded), (*call).sendB},
		evCollect:     {next(stateCollecting, stateBCallingFromIVR, stateEngineAnswered, stateEnding, stateEnded), (*call).answerToCollect},
		evAnnounce:    {next(stateEngineAnswered, stateEnded), (*call).answerToAnnounce},
		evRouteFailed: {next(stateEnded), (*call).routeFailed},
		evACancelled:  {next(stateEnded), (*call).cancelledWhileRouted},
		evABye:        {next(stateEnded), (*call).byeWhileRouted},
		evTerminate:   {next(stateEnded), (*call).terminatedWhileRouted},
		evARequest:    {next(stateRouting), (*call).holdBack},
		evBRequest:    {next(stateRouting), (*call).holdBack},
	},
	stateBCalling: whileBCalled(stateBCalling),
	stateBRinging: whileBCalled(stateBRinging),
	stateAnswered: {
		evA2xxDone:  {next(stateConfirmed, stateEnding), (*call).aAnswerDone},
		evAAck:      {next(stateAnswered), (*call).earlyAck},
		evABye:      {next(stateEnding), (*call).byeFromA},
		evBBye:      {next(stateEnding), (*call).byeFromB},
		evARequest:  {next(stateAnswered), (*call).letThrough},
		evBRequest:  {next(stateAnswered), (*call).letThrough},
		evOfferDone: {next(stateAnswered), (*call).offerDone},
		evTerminate: {next(stateEnding), (*call).terminateUp},
	},
	stateConfirmed: {
		evAAck:      {next(stateConfirmed, stateEnding), (*call).ackAnswer},
		evAckWait:   {next(stateConfirmed, stateEnding), (*call).ackWait},
		evABye:      {next(stateEnding), (*call).byeFromA},
		evBBye:      {next(stateEnding), (*call).byeFromB},
		evARequest:  {next(stateConfirmed), (*call).letThrough},
		evBRequest:  {next(stateConfirmed), (*call).letThrough},
		evOfferDone: {next(stateConfirmed), (*call).offerDone},
		evTerminate: {next(stateEnding), (*call).terminateUp},
	},
	stateCancelling: {
		evBProvisional: {next(stateCancelling), (*call).cancelOnProvisional},
		evBAnswered:    {next(stateEnding), (*call).cancelGlare},
		evBRejected:    {next(stateEnded), (*call).cancelDone},
		evBTxEnded:     {next(stateEnded), (*call).cancelDone},
		evCancelGuard:  {next(stateEnded), (*call).cancelUnanswered},
		evARequest:     {next(stateCancelling), (*call).holdBack},
		evBRequest:     {next(stateCancelling), (*call).holdBack},
	},
	stateCollecting: {
		evAAck:       {next(stateCollecting, stateBCallingFromIVR, stateEngineAnswered, stateEnding), (*call).engineAck},
		evDigit:      {next(stateCollecting, stateBCallingFromIVR, stateEngineAnswered, stateEnding), (*call).menuDigit},
		evPromptDone: {next(stateCollecting, stateBCallingFromIVR, stateEngineAnswered, stateEnding), (*call).menuPromptDone},
		evMenuTimer:  {next(stateCollecting, stateBCallingFromIVR, stateEngineAnswered, stateEnding), (*call).menuTimer},
		evA2xxDone:   {next(stateCollecting, stateEnding), (*call).engineAnswerDone},
		evABye:       {next(stateEnded), (*call).byeToEngine},
		evTerminate:  {next(stateEnding), (*call).terminateEngineAnswered},
		evARequest:   {next(stateCollecting), (*call).engineTakes},
		evBRequest:   {next(stateCollecting), (*call).holdBack},
	},
	stateBCallingFromIVR: {
		evBProvisional:  {next(stateBCallingFromIVR), (*call).earlyFromIVR},
		evBAnswered:     {next(stateConfirmed, stateEnding), (*call).answeredFromIVR},
		evBRejected:     {next(stateEngineAnswered, stateEnding), (*call).unavailableFromIVR},
		evBTxEnded:      {next(stateEngineAnswered, stateEnding), (*call).unavailableFromIVR},
		evAnswerTimeout: {next(stateEngineAnswered, stateEnding), (*call).rangTooLongFromIVR},
		evA2xxDone:      {next(stateBCallingFromIVR, stateCancelling), (*call).engineAnswerDoneCalling},
		evABye:          {next(stateCancelling), (*call).byeWhileIVRCalls},
		evTerminate:     {next(stateCancelling), (*call).terminateWhileIVRCalls},
		evARequest:      {next(stateBCallingFromIVR), (*call).engineTakes},
		evBRequest:      {next(stateBCallingFromIVR), (*call).holdBack},
	},
	stateEngineAnswered: {
		evAAck:       {next(stateEngineAnswered, stateEnding), (*call).engineAck},
		evBAnswered:  {next(stateEngineAnswered), (*call).answeredAfterCancel},
		evPromptDone: {next(stateEngineAnswered, stateEnding), (*call).lastPromptDone},
		evMenuTimer:  {next(stateEnding), (*call).lastPromptGuard},
		evA2xxDone:   {next(stateEngineAnswered, stateEnding), (*call).engineAnswerDone},
		evABye:       {next(stateEnded), (*call).byeToEngine},
		evTerminate:  {next(stateEnding), (*call).terminateEngineAnswered},
		evARequest:   {next(stateEngineAnswered), (*call).engineTakes},
		evBRequest:   {next(stateEngineAnswered), (*call).holdBack},
	},
	stateEnding: {
		evLegsClosed: {next(stateEnded), (*call).legsClosed},
		evARequest:   {next(stateEnding), (*call).holdBack},
		evBRequest:   {next(stateEnding), (*call).holdBack},
	},
}

// whileBCalled is the row of a state in which B's INVITE is outstanding:
// b-calling and b-ringing take the same events; they differ in whether a
// CANCEL may go at once (abandon).
func whileBCalled(s state) [numEventKinds]transition {
	return [numEventKinds]transition{
		evBProvisional:  {next(stateBRinging), (*call).provisional},
		evBAnswered:     {next(stateAnswered, stateEnding), (*call).bAnswered},
		evBRejected:     {next(stateEnded), (*call).bRejected},
		evBTxEnded:      {next(stateEnded), (*call).bTxEnded},
		evACancelled:    {next(stateCancelling), (*call).aCancelled},
		evABye:          {next(stateCancelling), (*call).aByeEarly},
		evBBye:          {next(s), (*call).bByeEarly},
		evARequest:      {next(s), (*call).holdBack},
		evBRequest:      {next(s), (*call).holdBack},
		evAnswerTimeout: {next(stateCancelling), (*call).rangTooLong},
		evBByeGrace:     {next(stateCancelling), (*call).bByeGrace},
		evTerminate:     {next(stateCancelling), (*call).stopSetup},
	}
}

// handle moves the call through one event. Reaching stateEnded releases
// what the call holds, once.
func (c *call) handle(ev event) {
	t := transitions[c.state][ev.kind]
	if t.do == nil {
		c.log.Debug().Stringer("state", c.state).Stringer("event", ev.kind).Msg("event ignored")
		return
	}
	from := c.state
	to := t.do(c, ev)
	if !slices.Contains(t.to, to) {
		// A bug in an action; the table test catches it. The call still
		// goes where the action said, so it cannot be stranded.
		c.log.Error().Stringer("state", from).Stringer("event", ev.kind).Stringer("to", to).Msg("transition not in the table")
	}
	c.state = to
	if to == stateEnded {
		c.io.release(c.endedBy)
		close(c.stopped)
	}
}
