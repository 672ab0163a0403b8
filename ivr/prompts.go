package ivr

import (
	"errors"
	"fmt"
	"io/fs"
	"path"
	"sync"

	"github.com/xbridge/xbridge/media"
)

// Ringback and Warning are the tones the engine plays by the same names as
// its prompts: while the callee's phone rings, and before a call's time
// limit.
const (
	Ringback Prompt = "ringback"
	Warning  Prompt = "warning"
)

// prompts is every recorded prompt the engine may play: each must exist in
// the default set.
var prompts = []Prompt{PromptEnterExtension, PromptNotFound, PromptGoodbye, PromptUnavailable, PromptNoCallback, PromptUnknownNumber, PromptRecorded}

// ErrNoPrompt: a name that is neither a prompt nor a tone.
var ErrNoPrompt = errors.New("no such prompt")

// Prompts are the sounds the engine plays, by name: the defaults of one
// language, and each pool's own recordings over them. Safe for concurrent
// use; pools' recordings may be replaced while calls play the old ones.
type Prompts struct {
	defaults map[Prompt]*media.Sound

	mu    sync.RWMutex
	pools map[string]map[Prompt]*media.Sound
}

// LoadPrompts reads the default prompts of lang from fsys, one WAV per
// prompt at lang/<name>.wav (the layout of testdata/prompts), and makes the
// tones. A prompt missing or unreadable fails the whole set: an IVR that
// plays silence where it should ask for the extension loses every call.
func LoadPrompts(fsys fs.FS, lang string) (*Prompts, error) {
	p := &Prompts{defaults: map[Prompt]*media.Sound{}, pools: map[string]map[Prompt]*media.Sound{}}
	for _, name := range prompts {
		s, err := media.LoadPromptFS(fsys, path.Join(lang, string(name)+".wav"))
		if err != nil {
			return nil, fmt.Errorf("ivr: default prompts (%s): %w", lang, err)
		}
		p.defaults[name] = s
	}
	var err error
	if p.defaults[Ringback], err = media.NewTone(media.ChinaRingback); err != nil {
		return nil, fmt.Errorf("ivr: ringback: %w", err)
	}
	if p.defaults[Warning], err = media.NewTone(media.WarningBeep); err != nil {
		return nil, fmt.Errorf("ivr: warning tone: %w", err)
	}
	return p, nil
}

// SetPool replaces a pool's own recordings: name to WAV file (as
// store.PoolSettings.Prompts holds them). Names not given play the
// defaults. Nothing changes if any file cannot be used.
func (p *Prompts) SetPool(pool string, files map[string]string) error {
	own := make(map[Prompt]*media.Sound, len(files))
	for name, file := range files {
		if _, ok := p.defaults[Prompt(name)]; !ok {
			return fmt.Errorf("ivr: pool %q: prompt %q: %w", pool, name, ErrNoPrompt)
		}
		s, err := media.LoadPrompt(file)
		if err != nil {
			return fmt.Errorf("ivr: pool %q: prompt %q: %w", pool, name, err)
		}
		own[Prompt(name)] = s
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if len(own) == 0 {
		delete(p.pools, pool)
	} else {
		p.pools[pool] = own
	}
	return nil
}

// Sound is what plays as name on a call of pool.
func (p *Prompts) Sound(pool string, name Prompt) (*media.Sound, error) {
	p.mu.RLock()
	s := p.pools[pool][name]
	p.mu.RUnlock()
	if s != nil {
		return s, nil
	}
	if s = p.defaults[name]; s == nil {
		return nil, fmt.Errorf("ivr: %q: %w", name, ErrNoPrompt)
	}
	return s, nil
}
