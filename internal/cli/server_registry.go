package cli

import (
	"context"
	"log/slog"
	"net"
	"os"
	"strings"

	"github.com/spf13/cobra"

	"github.com/spacepods/spacepods/internal/builds"
	"github.com/spacepods/spacepods/internal/runtime"
	"github.com/spacepods/spacepods/internal/spacepods"
	"github.com/spacepods/spacepods/internal/store"
)

// The values of --registry that are not a host.
const (
	registryEmbedded = "embedded"
	registryNone     = "none"
)

// registryConfig is where images are pushed and pulled (docs/registry.md).
type registryConfig struct {
	registry     string // embedded, none, or HOST[:PORT]
	port         int
	username     string
	passwordFile string
	insecure     bool
}

func (rc *registryConfig) flags(cmd *cobra.Command) {
	f := cmd.Flags()
	f.StringVar(&rc.registry, "registry", envOr("SPACEPODS_REGISTRY", registryEmbedded), "where images are pushed and pulled: embedded (a docker-registry on loopback, storage in <data-dir>/registry, started or adopted by the server), the host[:port] of an existing registry (ECR, GHCR, Harbor: docs/registry.md), or none (env SPACEPODS_REGISTRY)")
	f.IntVar(&rc.port, "registry-port", 0, "embedded registry: its loopback port; 0 = a free port chosen at first start and kept in <data-dir>/registry/port (env SPACEPODS_REGISTRY_PORT)")
	f.StringVar(&rc.username, "registry-username", envOr("SPACEPODS_REGISTRY_USERNAME", ""), "existing registry: user that pulls images and reads their labels (env SPACEPODS_REGISTRY_USERNAME)")
	f.StringVar(&rc.passwordFile, "registry-password-file", envOr("SPACEPODS_REGISTRY_PASSWORD_FILE", ""), "existing registry: file holding the password or token of --registry-username (or env SPACEPODS_REGISTRY_PASSWORD; never a flag value, which ps would show)")
	f.BoolVar(&rc.insecure, "registry-insecure", envOr("SPACEPODS_REGISTRY_INSECURE", "") == "true", "existing registry: talk plain HTTP to it (loopback registries are plain HTTP anyway) (env SPACEPODS_REGISTRY_INSECURE=true)")
}

// validate checks the registry flags before anything starts.
func (rc registryConfig) validate() error {
	switch rc.registry {
	case registryEmbedded, registryNone:
		if rc.username != "" || rc.passwordFile != "" {
			return spacepods.Errorf(spacepods.EINVALID, "--registry-username and --registry-password-file are for an existing registry: give its host with --registry HOST[:PORT]")
		}
		return nil
	case "":
		return spacepods.Errorf(spacepods.EINVALID, "--registry is empty: use embedded, none, or the host[:port] of a registry")
	}
	if strings.Contains(rc.registry, "://") || strings.ContainsAny(rc.registry, " @") || strings.Trim(rc.registry, "/") != rc.registry {
		return spacepods.Errorf(spacepods.EINVALID, "--registry %q: give the registry's host[:port] as it appears in image references, e.g. registry.example:5000 or 123456789012.dkr.ecr.eu-west-1.amazonaws.com (no scheme; --registry-insecure for plain HTTP)", rc.registry)
	}
	return nil
}

// startRegistry makes the registry of --registry ready and returns the
// notification handler of the API (nil with --registry none) and the login
// runtimes pull with. The notification token is kept in
// <data-dir>/registry/notify.token for every kind of registry.
func startRegistry(ctx context.Context, dataDir, listen string, rc registryConfig, st *store.Store, logger *slog.Logger) (*builds.Notifications, runtime.RegistryLogin, error) {
	if rc.registry == registryNone {
		logger.Info("registry none: builds are recorded only by `spacepods build record`")
		return nil, runtime.RegistryLogin{}, nil
	}
	token, err := builds.NotifyToken(dataDir)
	if err != nil {
		return nil, runtime.RegistryLogin{}, err
	}
	var reg builds.Registry
	if rc.registry == registryEmbedded {
		proc, err := builds.StartProcess(ctx, builds.ProcessOptions{DataDir: dataDir, Port: rc.port,
			NotifyURL: hookURL(listen), Token: token, Logger: logger.With("component", "registry")})
		if err != nil {
			return nil, runtime.RegistryLogin{}, err
		}
		reg = proc.Registry
	} else {
		reg = builds.Registry{Host: rc.registry, Username: rc.username, Insecure: rc.insecure}
		if reg.Password, err = registryPassword(rc); err != nil {
			return nil, runtime.RegistryLogin{}, err
		}
		logger.Info("registry", "host", reg.Host, "login", reg.Username != "", "insecure", reg.Insecure,
			"notifications", "point its webhook at /api/v1/hooks/registry with the token in "+builds.Dir(dataDir)+"/"+builds.TokenFile)
	}
	n := &builds.Notifications{Store: st, Images: &builds.Client{Registry: reg}, Token: token, Logger: logger.With("component", "registry")}
	return n, runtime.RegistryLogin{Host: reg.Host, Username: reg.Username, Password: reg.Password}, nil
}

// hookURL is where a registry on this host reaches the API's hook.
func hookURL(listen string) string {
	host, port, err := net.SplitHostPort(listen)
	if err != nil {
		return "http://" + listen + "/api/v1/hooks/registry"
	}
	if ip := net.ParseIP(host); host == "" || (ip != nil && ip.IsUnspecified()) {
		host = "127.0.0.1"
	}
	return "http://" + net.JoinHostPort(host, port) + "/api/v1/hooks/registry"
}

// registryPassword reads the registry password from its file, else from
// SPACEPODS_REGISTRY_PASSWORD.
func registryPassword(rc registryConfig) (string, error) {
	if rc.passwordFile == "" {
		pw := os.Getenv("SPACEPODS_REGISTRY_PASSWORD")
		if rc.username != "" && pw == "" {
			return "", spacepods.Errorf(spacepods.EINVALID, "--registry-username %s needs a password: --registry-password-file FILE or SPACEPODS_REGISTRY_PASSWORD", rc.username)
		}
		return pw, nil
	}
	b, err := os.ReadFile(rc.passwordFile)
	if err != nil {
		return "", spacepods.Errorf(spacepods.EINVALID, "--registry-password-file: %v", err)
	}
	return strings.TrimSpace(string(b)), nil
}
