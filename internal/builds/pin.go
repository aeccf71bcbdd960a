package builds

import (
	"context"
	"strings"

	"github.com/spacepods/spacepods/internal/runtime"
	"github.com/spacepods/spacepods/internal/spacepods"
)

// Pinner fixes the image a release runs when the release is registered,
// so that pushing the same tag again never changes what a release (or a
// rollback to it) runs: an image on a registry is pinned to its manifest
// digest (repository@sha256:...), read from the registry; an image only on
// the runtime's host (no registry in its name) to its image ID there. It
// implements the deploy engine's Images.
type Pinner struct {
	Images *Client
	// Host is the runtime's image store (Docker); nil when the runtime
	// keeps none (Kubernetes: images without a registry are run by tag).
	Host runtime.ImageHost
}

// Pin returns the immutable reference of ref: with digest (the one the
// build recorded), repository@digest; else the digest its tag points at
// now, or the image ID on the host. A reference that is already immutable
// is returned as is. ENOTFOUND when the registry has no such tag;
// EINVALID when an image without a registry is not on the host;
// EUNAVAILABLE when the registry cannot be reached.
func (p *Pinner) Pin(ctx context.Context, ref, digest string) (string, error) {
	switch {
	case digest != "" && !strings.Contains(ref, "@"):
		return Repository(ref) + "@" + digest, nil
	case strings.Contains(ref, "@sha256:") || runtime.IsImageID(ref):
		return ref, nil
	case runtime.RegistryHost(ref) != "":
		digest, repo, err := p.Images.Digest(ctx, ref)
		if err != nil {
			return "", err
		}
		return repo + "@" + digest, nil
	case p.Host == nil:
		return ref, nil
	}
	id, err := p.Host.ImageID(ctx, ref)
	if spacepods.ErrorCode(err) == spacepods.ENOTFOUND {
		// The host's own rule and message for an image it cannot pull.
		return "", p.Host.EnsureImage(ctx, ref, func(string) {})
	}
	return id, err
}

// Repository strips the tag off an image reference: host:5000/a/b:7 →
// host:5000/a/b.
func Repository(ref string) string {
	if i := strings.LastIndex(ref, ":"); i > strings.LastIndex(ref, "/") {
		return ref[:i]
	}
	return ref
}

// Ready makes sure the pinned image is where the runtime runs it: on a
// Docker host it is pulled when missing, its progress reported to
// progress. Nothing to do on a runtime that pulls by itself.
func (p *Pinner) Ready(ctx context.Context, pinned string, progress func(string)) error {
	if p.Host == nil {
		return nil
	}
	return p.Host.EnsureImage(ctx, pinned, progress)
}
