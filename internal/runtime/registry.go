package runtime

import (
	"context"
	"log/slog"
	"strings"

	"github.com/spacepods/spacepods/internal/registry"
	"github.com/spacepods/spacepods/internal/spacepods"
)

// Ways of routing app hosts (Config.Routing, `spacepods server --routing`).
const (
	RoutingRouter  = "router"  // Spacepods' own edge router
	RoutingIngress = "ingress" // the runtime's own routes (an Ingresser)
	RoutingALB     = "alb"     // an AWS load balancer's listener rules (internal/aws/alb)
)

// Config carries what every driver may need; each reads its own part.
type Config struct {
	// Installation labels everything the driver makes and narrows what it
	// sees to that, so installations sharing a runtime keep apart.
	Installation string
	// Domain is the domain of app hosts, <app>.<environment>.<domain>.
	Domain string
	// Routing is how app hosts are routed: RoutingRouter, RoutingIngress,
	// or "" for the driver's default (ingress for an Ingresser).
	Routing string
	// Secrets reads the values of secret env vars when containers start.
	Secrets SecretResolver
	// Logger gets the driver's structured logs; nil discards them.
	Logger *slog.Logger
	// Registry logs in to the registry images are pulled from; zero =
	// anonymous pulls.
	Registry RegistryLogin
	// Settings are drivers' own settings by driver ID, e.g.
	// Settings["kubernetes"] is a kubernetes.Config. A driver reads its own
	// (see SettingsOf) and ignores the others.
	Settings map[string]any
}

// RegistryLogin is a registry's host and credentials, for pulls.
type RegistryLogin struct {
	Host, Username, Password string
}

// For returns the login to use for an image on host: itself when it is
// for that host and has a username, else the zero login (anonymous).
func (l RegistryLogin) For(host string) RegistryLogin {
	if l.Username == "" || !strings.EqualFold(l.Host, host) {
		return RegistryLogin{}
	}
	return l
}

// SettingsOf returns cfg.Settings[id] as a T: the zero T when there is
// none, EINTERNAL when it is of another type (a programming error).
func SettingsOf[T any](cfg Config, id string) (T, error) {
	var zero T
	v, ok := cfg.Settings[id]
	if !ok || v == nil {
		return zero, nil
	}
	t, ok := v.(T)
	if !ok {
		return zero, spacepods.Errorf(spacepods.EINTERNAL, "runtime %s: settings of type %T, want %T", id, v, zero)
	}
	return t, nil
}

// Factory opens a driver and checks that its runtime answers. EINVALID for
// a bad config; EUNAVAILABLE when the runtime does not answer.
type Factory func(ctx context.Context, cfg Config) (Driver, error)

var drivers = registry.New[Factory]("runtime")

// Register adds a driver under id, its Name(). Drivers register themselves
// in their package's init; the server links the ones it offers (see
// internal/cli/runtimes.go). It panics on an empty or duplicate id, which
// is a programming error.
func Register(id string, f Factory) { drivers.Register(id, f) }

// Drivers returns the registered driver IDs, sorted.
func Drivers() []string { return drivers.IDs() }

// Open opens the driver registered under id. EINVALID for an unknown id
// (the message lists the known ones); otherwise what its Factory returns.
func Open(ctx context.Context, id string, cfg Config) (Driver, error) {
	f, err := drivers.Lookup(id)
	if err != nil {
		return nil, err
	}
	return f(ctx, cfg)
}
