package catalog

import (
	"bytes"
	"errors"
	"testing"

	"github.com/spacepods/spacepods/internal/spacepods"
)

// FuzzParseManifest checks that no input panics, that every failure is a
// clean error with lines inside the input, and that every success is an app
// that passes Validate.
func FuzzParseManifest(f *testing.F) {
	f.Add([]byte(exampleManifest))
	for _, tt := range validManifests {
		f.Add([]byte(tt.yaml))
	}
	for _, tt := range problemCases {
		f.Add([]byte(tt.yaml))
	}
	for _, tt := range unknownKeyCases {
		f.Add([]byte(tt.yaml))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		app, err := ParseManifest(data)
		if err == nil {
			if app == nil {
				t.Fatal("nil app and nil error")
			}
			if errs := app.Validate(); len(errs) > 0 {
				t.Fatalf("parsed app fails Validate: %+v", errs)
			}
			return
		}
		if app != nil {
			t.Fatal("app and error both returned")
		}
		switch code := spacepods.ErrorCode(err); code {
		case spacepods.EINVALID:
		case spacepods.ETOOLARGE:
			return
		default:
			t.Fatalf("error code %q: %v", code, err)
		}
		var me *ManifestError
		if !errors.As(err, &me) || len(me.Problems) == 0 {
			t.Fatalf("EINVALID error without problems: %T %v", err, err)
		}
		lines := bytes.Count(normalizeNewlines(data), []byte("\n")) + 1
		for _, p := range me.Problems {
			if p.Line < 1 || p.Line > lines || p.Message == "" {
				t.Fatalf("bad problem %+v in a %d-line input", p, lines)
			}
		}
	})
}
