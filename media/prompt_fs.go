package media

import (
	"fmt"
	"io"
	"io/fs"
)

// LoadPromptFS is LoadPrompt for a file of fsys: the defaults the binary
// embeds, or an operator's directory.
func LoadPromptFS(fsys fs.FS, path string) (*Sound, error) {
	f, err := fsys.Open(path)
	if err != nil {
		return nil, fmt.Errorf("media: prompt: %w", err)
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, maxPromptBytes+1))
	if err != nil {
		return nil, fmt.Errorf("media: prompt %s: %w", path, err)
	}
	if len(data) > maxPromptBytes {
		return nil, fmt.Errorf("media: prompt %s: %w: longer than two minutes of 8 kHz audio", path, ErrUnsupportedAudio)
	}
	s, err := decodeWAV(path, data)
	if err != nil {
		return nil, fmt.Errorf("media: prompt %s: %w", path, err)
	}
	return s, nil
}
