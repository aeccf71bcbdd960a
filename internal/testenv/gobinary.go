package testenv

import (
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"testing"
)

var goBinaries struct {
	mu    sync.Mutex
	built map[string]*goBinary
}

type goBinary struct {
	once   sync.Once
	binary []byte
	err    error
}

// GoBinary compiles the Go package pkg (an import path, or a path relative
// to the test's package directory) as a static Linux binary (CGO_ENABLED=0,
// host architecture) once per test process, and returns it: tests put it
// into an image FROM scratch.
func GoBinary(t testing.TB, pkg string) []byte {
	t.Helper()
	goBin := RequireBinary(t, "go")
	wd, _ := os.Getwd()
	key := wd + "\x00" + pkg
	goBinaries.mu.Lock()
	if goBinaries.built == nil {
		goBinaries.built = map[string]*goBinary{}
	}
	b := goBinaries.built[key]
	if b == nil {
		b = &goBinary{}
		goBinaries.built[key] = b
	}
	goBinaries.mu.Unlock()
	b.once.Do(func() {
		dir, err := os.MkdirTemp("", "spacepods-gobinary-")
		if err != nil {
			b.err = err
			return
		}
		defer func() { _ = os.RemoveAll(dir) }() // best-effort cleanup; nothing useful to do on failure
		out := filepath.Join(dir, "app")
		cmd := exec.Command(goBin, "build", "-trimpath", "-buildvcs=false", "-ldflags=-s -w", "-o", out, pkg)
		cmd.Env = append(os.Environ(), "CGO_ENABLED=0", "GOOS=linux")
		if msg, err := cmd.CombinedOutput(); err != nil {
			b.err = errors.New("go build " + pkg + ": " + err.Error() + "\n" + string(msg))
			return
		}
		b.binary, b.err = os.ReadFile(out)
	})
	if b.err != nil {
		t.Fatal(b.err)
	}
	return b.binary
}
