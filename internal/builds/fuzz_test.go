package builds

import (
	"testing"

	"github.com/spacepods/spacepods/internal/spacepods"
)

// FuzzParseEnvelope checks that no body panics, that a failure is EINVALID,
// and that every tag push it returns has what a build needs to be told
// apart from a retry: an ID, a repository, a tag and a sha256 digest.
func FuzzParseEnvelope(f *testing.F) {
	f.Add(envelope(event("e1", "push", dockerV2, "spacepods-example/web", "7", digestA)))
	f.Add(envelope(event("l1", "push", layer, "web", "", digestA), event("p1", "pull", dockerV2, "web", "8", digestA)))
	f.Add([]byte(`{"events":[]}`))
	f.Add([]byte(`{"events":null}`))
	f.Add([]byte(`[]`))
	f.Fuzz(func(t *testing.T, body []byte) {
		pushes, ignored, err := ParseEnvelope(body)
		if err != nil {
			if spacepods.ErrorCode(err) != spacepods.EINVALID {
				t.Fatalf("error %v is not EINVALID", err)
			}
			return
		}
		if ignored < 0 {
			t.Fatalf("ignored %d", ignored)
		}
		for _, p := range pushes {
			if p.EventID == "" || p.Repository == "" || p.Tag == "" || !spacepods.ValidDigest(p.Digest) {
				t.Fatalf("push %+v lacks what a build needs", p)
			}
		}
	})
}
