// Package sippscenario runs the SIPp scenarios of testdata/sipp that
// scripts/sipp-axe.sh drives against scripted peers in place of the
// engine, so that each of their checks is known to pass on a right call
// and to fail on each wrong one before the engine's AXE flow is there to
// meet them. It holds only tests; they skip when SIPp is not installed.
package sippscenario
