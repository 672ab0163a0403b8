// Package ivr holds what an extension call (AXE) does between the engine's
// answer and the B leg: the menu that prompts for an extension, collects
// its digits, looks it up and retries, and the readers of the digits a
// caller's phone sends over SIP (INFO bodies). It makes decisions only: the
// menu is a state machine fed events (digits, prompt ends, timeouts, lookup
// results) that returns actions (play, stop, look up, hang up). The call's
// own state machine in b2bua owns the caller's leg and the media, runs the
// actions and feeds the menu, so a call still has exactly one state
// machine deciding what its legs are told, and this one is a part of it
// that can be tested by table, without SIP or sockets.
package ivr
