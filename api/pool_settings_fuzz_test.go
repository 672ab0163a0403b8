package api

import (
	"encoding/json"
	"reflect"
	"testing"
)

// FuzzDecodePoolSettings: any document either fails with a 4xx naming what
// is wrong, or gives settings the store accepts, which read back through
// the API's own rendering to the same settings.
func FuzzDecodePoolSettings(f *testing.F) {
	for _, seed := range []string{
		`{}`,
		`{"extension_length":6,"quarantine_seconds":600,"unknown_caller":{"action":"announce","prompt":"x"},"expiry":{"mode":"teardown","warn_seconds":30},"callback_window_seconds":7200,"allow_real_display":true,"prompts":{"a":"/a.wav"}}`,
		`{"unknown_caller":{"action":"reject","code":486},"expiry":{"mode":"finish"}}`,
		`{"extension_length":7}`,
		`{"quarantine_seconds":-1}`,
		`[]`,
		`{"prompts":{}}`, // once rendered back as no prompts: nil, not an empty map
	} {
		f.Add([]byte(seed))
	}
	f.Fuzz(func(t *testing.T, data []byte) { checkPoolSettingsDoc(t, data) })
}

func checkPoolSettingsDoc(t *testing.T, data []byte) {
	{
		s, err := DecodePoolSettings(data)
		if err != nil {
			e, ok := err.(*apiError)
			if !ok || e.status < 400 || e.status > 499 {
				t.Fatalf("error %T %v is not a 4xx apiError", err, err)
			}
			return
		}
		if err := s.Validate(); err != nil {
			t.Fatalf("decoded settings the store refuses: %v", err)
		}
		doc, err := json.Marshal(settingsDoc(s))
		if err != nil {
			t.Fatal(err)
		}
		back, err := DecodePoolSettings(doc)
		if err != nil {
			t.Fatalf("rendered settings %s do not decode: %v", doc, err)
		}
		if !reflect.DeepEqual(back.WithDefaults(), s.WithDefaults()) {
			t.Fatalf("round trip %s:\n%+v\n%+v", doc, back, s)
		}
	}
}
