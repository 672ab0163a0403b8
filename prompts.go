// Package xbridge holds what the binary takes from the repository itself:
// the default IVR prompts (testdata/prompts, made by
// scripts/make-prompts.sh), embedded so that `xbridge serve` needs no file
// beside it.
package xbridge

import "embed"

// DefaultPrompts holds testdata/prompts/<lang>/<name>.wav for lang zh and en.
//
//go:embed testdata/prompts
var DefaultPrompts embed.FS
