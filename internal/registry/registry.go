// Package registry holds named factories: the runtime drivers and the secret
// stores each register an ID and a factory in one place, and the server
// opens one by the ID its flags name.
package registry

import (
	"fmt"
	"reflect"
	"sort"
	"strings"
	"sync"

	"github.com/spacepods/spacepods/internal/spacepods"
)

// Registry maps IDs to factories of one kind ("runtime", "secret store").
type Registry[F any] struct {
	kind string
	mu   sync.RWMutex
	m    map[string]F
}

// New returns an empty registry of factories of kind.
func New[F any](kind string) *Registry[F] {
	return &Registry[F]{kind: kind, m: map[string]F{}}
}

// Register adds f under id. It panics on an empty id, a nil factory or a
// duplicate id, which are programming errors.
func (r *Registry[F]) Register(id string, f F) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if v := reflect.ValueOf(f); id == "" || !v.IsValid() || v.Kind() == reflect.Func && v.IsNil() {
		panic(r.kind + ": Register needs an id and a factory")
	}
	if _, dup := r.m[id]; dup {
		panic(fmt.Sprintf("%s %q registered twice", r.kind, id))
	}
	r.m[id] = f
}

// IDs returns the registered IDs, sorted.
func (r *Registry[F]) IDs() []string {
	r.mu.RLock()
	defer r.mu.RUnlock()
	ids := make([]string, 0, len(r.m))
	for id := range r.m {
		ids = append(ids, id)
	}
	sort.Strings(ids)
	return ids
}

// Lookup returns the factory registered under id; EINVALID for an unknown
// id, with a message that lists the known ones.
func (r *Registry[F]) Lookup(id string) (F, error) {
	r.mu.RLock()
	f, ok := r.m[id]
	r.mu.RUnlock()
	if !ok {
		return f, spacepods.Errorf(spacepods.EINVALID, "unknown %s %q: choose one of %s", r.kind, id, strings.Join(r.IDs(), ", "))
	}
	return f, nil
}
