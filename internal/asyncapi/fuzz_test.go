package asyncapi

import (
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"testing"
)

// FuzzParse: no document panics Parse, Topic or CompilePayload, and an error of Parse is
// a *ValidationError, a limit or a reading error, never a partial Spec.
func FuzzParse(f *testing.F) {
	files, _ := filepath.Glob("testdata/corpus/*/*")
	for _, name := range files {
		if data, err := os.ReadFile(name); err == nil {
			f.Add(data)
		}
	}
	f.Add([]byte(billionLaughs()))
	f.Fuzz(func(t *testing.T, data []byte) {
		spec, err := Parse(data)
		if err != nil {
			if spec != nil {
				t.Fatal("a Spec and an error")
			}
			return
		}
		for _, ch := range spec.Channels {
			_, _ = Topic("app", ch.Name)
			for _, m := range ch.Messages {
				if m.Payload != nil && !json.Valid(m.Payload) {
					t.Fatalf("payload of %q is not JSON", ch.Name)
				}
				if v, err := CompilePayload(m); err == nil {
					var ve *ValidationError
					if err := v.Validate(map[string]any{"a": 1.0}); err != nil && !errors.As(err, &ve) {
						t.Fatalf("validate: %v", err)
					}
				}
			}
		}
	})
}
