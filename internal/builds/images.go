package builds

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/remote/transport"

	"github.com/spacepods/spacepods/internal/runtime"
	"github.com/spacepods/spacepods/internal/spacepods"
)

// Image labels Spacepods reads from a pushed image's config.
const (
	LabelRevision = "org.opencontainers.image.revision" // the git SHA (OCI standard)
	LabelBuild    = "io.spacepods.build"                // the build number when the tag is not one
	LabelBranch   = "io.spacepods.branch"               // default main
	LabelPR       = "io.spacepods.pr"                   // the pull request number
)

// Client reads images on registries through their HTTP API
// (go-containerregistry): digests of tags and config labels. It logs in to
// Registry with its credentials; other registries anonymously.
type Client struct {
	Registry Registry
	// Transport, when set, carries the requests (tests).
	Transport http.RoundTripper
}

func (c *Client) options(ctx context.Context, host string) []remote.Option {
	opts := []remote.Option{remote.WithContext(ctx),
		// A registry that is down must fail a deploy in seconds, not
		// after go-containerregistry's default backoff.
		remote.WithRetryBackoff(remote.Backoff{Duration: 100 * time.Millisecond, Factor: 2, Steps: 2})}
	if c.Transport != nil {
		opts = append(opts, remote.WithTransport(c.Transport))
	}
	if c.Registry.Username != "" && sameHost(host, c.Registry.Host) {
		opts = append(opts, remote.WithAuth(&authn.Basic{Username: c.Registry.Username, Password: c.Registry.Password}))
	}
	return opts
}

func sameHost(a, b string) bool {
	return strings.EqualFold(strings.TrimSuffix(a, "/"), strings.TrimSuffix(b, "/"))
}

func (c *Client) nameOptions(host string) []name.Option {
	if c.Registry.Insecure && sameHost(host, c.Registry.Host) {
		return []name.Option{name.Insecure}
	}
	return nil
}

// Digest returns the manifest digest ref's tag points at now, and ref's
// repository (host/path). EINVALID for a reference that is not one;
// ENOTFOUND when the registry has no such tag; EUNAVAILABLE when the
// registry cannot be reached or refuses.
func (c *Client) Digest(ctx context.Context, ref string) (digest, repository string, err error) {
	host := runtime.RegistryHost(ref)
	r, err := name.ParseReference(ref, c.nameOptions(host)...)
	if err != nil {
		return "", "", spacepods.Errorf(spacepods.EINVALID, "image %q is not an image reference: %v", ref, err)
	}
	desc, err := remote.Head(r, c.options(ctx, host)...)
	if err != nil {
		return "", "", registryError(err, ref)
	}
	return desc.Digest.String(), r.Context().Name(), nil
}

// Labels returns the config labels of the image host/repository@digest
// (for an index, the linux/amd64 image's).
func (c *Client) Labels(ctx context.Context, host, repository, digest string) (map[string]string, error) {
	ref := host + "/" + repository + "@" + digest
	r, err := name.NewDigest(ref, c.nameOptions(host)...)
	if err != nil {
		return nil, spacepods.Errorf(spacepods.EINVALID, "image %q is not an image reference: %v", ref, err)
	}
	img, err := remote.Image(r, c.options(ctx, host)...)
	if err != nil {
		return nil, registryError(err, ref)
	}
	cfg, err := img.ConfigFile()
	if err != nil {
		return nil, registryError(err, ref)
	}
	return cfg.Config.Labels, nil
}

// registryError codes an error of the registry API.
func registryError(err error, ref string) error {
	var te *transport.Error
	if errors.As(err, &te) {
		switch te.StatusCode {
		case http.StatusNotFound:
			return spacepods.Errorf(spacepods.ENOTFOUND, "image %s is not on its registry: push it first", ref)
		case http.StatusUnauthorized, http.StatusForbidden:
			return spacepods.Errorf(spacepods.EUNAVAILABLE, "the registry refused to show %s (%d): give Spacepods credentials that can pull it (--registry-username, --registry-password-file)", ref, te.StatusCode)
		}
	}
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return err
	}
	return spacepods.Errorf(spacepods.EUNAVAILABLE, "read %s from its registry: %v", ref, err)
}

// String describes the client's registry for logs (never its password).
func (c *Client) String() string {
	return fmt.Sprintf("registry %s (login: %t, insecure: %t)", c.Registry.Host, c.Registry.Username != "", c.Registry.Insecure)
}
