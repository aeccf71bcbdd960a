package builds

import (
	"context"
	"fmt"
	"strings"
	"time"

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

// pinTimeout bounds asking a registry for a tag's digest at deploy time.
const pinTimeout = 15 * time.Second

// Pin returns the immutable reference of ref: with digest (the one the
// build recorded), repository@digest; else the digest its tag points at
// now, or the image ID on the host. A reference that is already immutable
// is returned as is. When the registry does not answer for a tag, the
// image on the Docker host is pinned by ID instead; without an image host
// (Kubernetes), the tag is kept when the registry cannot be reached from
// here (the cluster may reach it), and warn says so. ENOTFOUND when the
// registry has no such tag (nor the host); EINVALID when an image without
// a registry is not on the host.
func (p *Pinner) Pin(ctx context.Context, ref, digest string, warn func(string)) (string, error) {
	switch {
	case digest != "" && !strings.Contains(ref, "@"):
		return Repository(ref) + "@" + digest, nil
	case strings.Contains(ref, "@sha256:") || runtime.IsImageID(ref):
		return ref, nil
	case runtime.RegistryHost(ref) != "":
		pctx, cancel := context.WithTimeout(ctx, pinTimeout)
		digest, repo, err := p.Images.Digest(pctx, ref)
		cancel()
		if err == nil {
			return repo + "@" + digest, nil
		}
		if p.Host != nil {
			id, lerr := p.Host.ImageID(ctx, ref)
			if lerr != nil {
				return "", err
			}
			warn(fmt.Sprintf("image %s: its registry gave no digest (%v); pinned to the image on the Docker host, %s", ref, err, id))
			return id, nil
		}
		if spacepods.ErrorCode(err) == spacepods.EUNAVAILABLE {
			warn(fmt.Sprintf("image %s is not pinned to a digest: its registry cannot be reached from Spacepods (%v); the cluster pulls it by tag", ref, err))
			return ref, nil
		}
		return "", err
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
