package secretstest

import (
	"context"
	"maps"
	"slices"
	"strings"
	"sync"

	"github.com/spacepods/spacepods/internal/secrets"
	"github.com/spacepods/spacepods/internal/spacepods"
)

// MemoryName is the Name of a Memory store. It is not a registered backend:
// the server cannot be started with it.
const MemoryName = "memory"

// Memory is a secret store in memory for the tests of packages that use a
// secrets.Store (config, ui, server...). It checks refs and sizes as the real
// backends do and passes the conformance suite, so a test that passes on it
// does not lean on a laxer store.
type Memory struct {
	mu   sync.Mutex
	m    map[string][]byte
	fail error
}

var _ secrets.Store = (*Memory)(nil)

// NewMemory returns an empty in-memory store.
func NewMemory() *Memory { return &Memory{m: map[string][]byte{}} }

// FailPuts makes every Put return err until FailPuts(nil), as a backend
// that is down would; the stored values stay as they were.
func (s *Memory) FailPuts(err error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.fail = err
}

// Value returns the value under ref as a string, "" if there is none.
func (s *Memory) Value(ref string) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return string(s.m[ref])
}

// Len returns the number of refs stored.
func (s *Memory) Len() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.m)
}

// Put implements secrets.Store.
func (s *Memory) Put(ctx context.Context, ref string, value []byte) error {
	if err := secrets.ValidateRef(ref); err != nil {
		return err
	}
	if len(value) > secrets.MaxValueSize {
		return spacepods.Errorf(spacepods.ETOOLARGE, "secret %s is %d bytes, over the limit of %d", ref, len(value), secrets.MaxValueSize)
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.fail != nil {
		return s.fail
	}
	s.m[ref] = slices.Clone(value)
	return nil
}

// Get implements secrets.Store.
func (s *Memory) Get(_ context.Context, ref string) ([]byte, error) {
	if err := secrets.ValidateRef(ref); err != nil {
		return nil, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	v, ok := s.m[ref]
	if !ok {
		return nil, spacepods.Errorf(spacepods.ENOTFOUND, "no secret %s", ref)
	}
	return slices.Clone(v), nil
}

// Delete implements secrets.Store.
func (s *Memory) Delete(_ context.Context, ref string) error {
	if err := secrets.ValidateRef(ref); err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.m, ref)
	return nil
}

// List implements secrets.Store.
func (s *Memory) List(_ context.Context, prefix string) ([]string, error) {
	if err := secrets.ValidatePrefix(prefix); err != nil {
		return nil, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	out := []string{}
	for _, ref := range slices.Sorted(maps.Keys(s.m)) {
		if strings.HasPrefix(ref, prefix) {
			out = append(out, ref)
		}
	}
	return out, nil
}

// Name implements secrets.Store.
func (s *Memory) Name() string { return MemoryName }
