package runtime

import (
	"context"
	"fmt"
	"log/slog"
	"sort"
	"strings"
	"sync"

	"github.com/spacepods/spacepods/internal/spacepods"
)

// Ways of routing app hosts (Config.Routing, `spacepods server --routing`).
const (
	RoutingRouter  = "router"  // Spacepods' own edge router
	RoutingIngress = "ingress" // the runtime's own routes (an Ingresser)
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
	// Settings are drivers' own settings by driver ID, e.g.
	// Settings["kubernetes"] is a kubernetes.Config. A driver reads its own
	// (see SettingsOf) and ignores the others.
	Settings map[string]any
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

var registry = struct {
	sync.RWMutex
	m map[string]Factory
}{m: map[string]Factory{}}

// Register adds a driver under id, its Name(). Drivers register themselves
// in their package's init; the server links the ones it offers (see
// internal/cli/runtimes.go). It panics on an empty or duplicate id, which
// is a programming error.
func Register(id string, f Factory) {
	registry.Lock()
	defer registry.Unlock()
	if id == "" || f == nil {
		panic("runtime: Register needs an id and a factory")
	}
	if _, dup := registry.m[id]; dup {
		panic(fmt.Sprintf("runtime: driver %q registered twice", id))
	}
	registry.m[id] = f
}

// Drivers returns the registered driver IDs, sorted.
func Drivers() []string {
	registry.RLock()
	defer registry.RUnlock()
	ids := make([]string, 0, len(registry.m))
	for id := range registry.m {
		ids = append(ids, id)
	}
	sort.Strings(ids)
	return ids
}

// Open opens the driver registered under id. EINVALID for an unknown id
// (the message lists the known ones); otherwise what its Factory returns.
func Open(ctx context.Context, id string, cfg Config) (Driver, error) {
	registry.RLock()
	f := registry.m[id]
	registry.RUnlock()
	if f == nil {
		return nil, spacepods.Errorf(spacepods.EINVALID, "unknown runtime %q: choose one of %s", id, strings.Join(Drivers(), ", "))
	}
	return f(ctx, cfg)
}
