package registry

import (
	"strings"
	"testing"

	"github.com/spacepods/spacepods/internal/spacepods"
)

func TestRegistry_LooksUpByIDAndListsTheKnownOnes(t *testing.T) {
	r := New[func() string]("widget")
	r.Register("b", func() string { return "B" })
	r.Register("a", func() string { return "A" })
	if got := strings.Join(r.IDs(), ","); got != "a,b" {
		t.Fatalf("IDs = %s, want a,b", got)
	}
	f, err := r.Lookup("b")
	if err != nil || f() != "B" {
		t.Fatalf("Lookup(b) = %v", err)
	}
	_, err = r.Lookup("c")
	if spacepods.ErrorCode(err) != spacepods.EINVALID || spacepods.ErrorMessage(err) != `unknown widget "c": choose one of a, b` {
		t.Fatalf("Lookup(c) = %v", err)
	}
}

func TestRegistry_PanicsOnProgrammingErrors(t *testing.T) {
	for name, register := range map[string]func(r *Registry[func()]){
		"empty id":    func(r *Registry[func()]) { r.Register("", func() {}) },
		"nil factory": func(r *Registry[func()]) { r.Register("x", nil) },
		"duplicate":   func(r *Registry[func()]) { r.Register("x", func() {}); r.Register("x", func() {}) },
	} {
		t.Run(name, func(t *testing.T) {
			defer func() {
				if recover() == nil {
					t.Fatal("no panic")
				}
			}()
			register(New[func()]("widget"))
		})
	}
}
