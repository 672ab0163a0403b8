package ivr

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"testing"
	"testing/fstest"

	"github.com/xbridge/xbridge/media"
)

func TestPrompts(t *testing.T) {
	fsys := os.DirFS("../testdata/prompts")
	for _, lang := range []string{"zh", "en"} {
		p, err := LoadPrompts(fsys, lang)
		if err != nil {
			t.Fatal(err)
		}
		for _, name := range append(prompts, Ringback, Warning) {
			s, err := p.Sound("default", name)
			if err != nil || s.Frames() == 0 {
				t.Errorf("%s %s: %v", lang, name, err)
			}
		}
		if _, err := p.Sound("default", "no-such"); !errors.Is(err, ErrNoPrompt) {
			t.Errorf("unknown prompt: %v", err)
		}
	}
	if _, err := LoadPrompts(fsys, "fr"); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("a language without prompts: %v", err)
	}
	// One missing prompt fails the set.
	partial := fstest.MapFS{}
	for _, name := range prompts[1:] {
		data, err := os.ReadFile(filepath.Join("../testdata/prompts/en", string(name)+".wav"))
		if err != nil {
			t.Fatal(err)
		}
		partial["en/"+string(name)+".wav"] = &fstest.MapFile{Data: data}
	}
	if _, err := LoadPrompts(partial, "en"); err == nil {
		t.Error("a set without enter-extension loaded")
	}
}

func TestPromptsPerPool(t *testing.T) {
	p, err := LoadPrompts(os.DirFS("../testdata/prompts"), "zh")
	if err != nil {
		t.Fatal(err)
	}
	own := filepath.Join("../testdata/prompts/en", string(PromptGoodbye)+".wav")
	if err := p.SetPool("acme", map[string]string{string(PromptGoodbye): own}); err != nil {
		t.Fatal(err)
	}
	want, err := media.LoadPrompt(own)
	if err != nil {
		t.Fatal(err)
	}
	got, _ := p.Sound("acme", PromptGoodbye)
	if got.Frames() != want.Frames() {
		t.Errorf("acme's goodbye has %d frames, want its own recording's %d", got.Frames(), want.Frames())
	}
	def, _ := p.Sound("other", PromptGoodbye)
	if def == got {
		t.Error("another pool plays acme's recording")
	}
	if s, _ := p.Sound("acme", PromptNotFound); s == nil {
		t.Error("a prompt acme did not record has no default")
	}
	// A bad override changes nothing.
	bad := filepath.Join(t.TempDir(), "bad.wav")
	if err := os.WriteFile(bad, []byte("RIFF....WAVE"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := p.SetPool("acme", map[string]string{string(PromptGoodbye): bad}); err == nil {
		t.Error("a file that is no WAV was taken")
	}
	if err := p.SetPool("acme", map[string]string{"welcome": own}); !errors.Is(err, ErrNoPrompt) {
		t.Errorf("an unknown prompt name: %v", err)
	}
	if got2, _ := p.Sound("acme", PromptGoodbye); got2 != got {
		t.Error("a refused override replaced acme's recording")
	}
}
