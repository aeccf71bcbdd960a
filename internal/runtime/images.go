package runtime

import "strings"

// RegistryHost returns the registry host of an image reference, or "" for
// a reference without one (acme/api:1, api:1, sha256:...), which names an
// image kept on the runtime's host (or on Docker Hub). Docker's rule: the
// first path element is a host when it has a '.' or a ':', or is
// localhost.
func RegistryHost(ref string) string {
	first, _, ok := strings.Cut(ref, "/")
	if !ok {
		return ""
	}
	if strings.ContainsAny(first, ".:") || first == "localhost" {
		return first
	}
	return ""
}

// IsImageID reports whether ref is an image ID (sha256:<64 hex>) rather
// than a name: it can be run where it is, never pulled.
func IsImageID(ref string) bool {
	hex, ok := strings.CutPrefix(ref, "sha256:")
	if !ok || len(hex) != 64 {
		return false
	}
	return strings.Trim(hex, "0123456789abcdef") == ""
}
