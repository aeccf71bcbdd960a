// Package builds makes builds arrive by themselves: registry push
// notifications, image digests pinned in releases, and (in builds/builder)
// the built-in builder that builds an app's image from its git repository.
package builds

import "strings"

// Registry says where images are pushed and pulled, and how to log in. The
// embedded default is a docker-registry on loopback (plain HTTP, no login);
// an existing registry (ECR, GHCR, Harbor) is a host plus credentials.
type Registry struct {
	// Host is the registry's host[:port], as it appears in image
	// references: "127.0.0.1:5055", "ghcr.io", "123456789012.dkr.ecr.eu-west-1.amazonaws.com".
	Host string `json:"host"`
	// Username and Password log in to push and pull; empty for an open
	// registry. Never logged, never returned by the API.
	Username string `json:"-"`
	Password string `json:"-"`
	// Insecure talks plain HTTP (Docker Engine does so by itself for
	// 127.0.0.0/8 registries).
	Insecure bool `json:"insecure,omitempty"`
}

// Ref is the image reference of repository:tag on this registry.
func (r Registry) Ref(repository, tag string) string {
	return strings.TrimSuffix(r.Host, "/") + "/" + strings.TrimPrefix(repository, "/") + ":" + tag
}
