package cli

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"

	"github.com/spacepods/spacepods/internal/spacepods"
)

// lockDataDir makes sure only one server uses dataDir: they would share its
// SQLite store, router and PostgreSQL cluster. The lock lasts as long as the
// returned file stays open (the process's life).
func lockDataDir(dataDir, listen string) (*os.File, error) {
	if err := os.MkdirAll(dataDir, 0o700); err != nil {
		return nil, fmt.Errorf("create the data dir: %w", err)
	}
	path := filepath.Join(dataDir, "server.lock")
	f, err := os.OpenFile(path, os.O_CREATE|os.O_RDWR, 0o600)
	if err != nil {
		return nil, fmt.Errorf("lock the data dir: %w", err)
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		holder, _ := os.ReadFile(path)
		_ = f.Close() // best-effort cleanup; nothing useful to do on failure
		abs, _ := filepath.Abs(dataDir)
		return nil, spacepods.Errorf(spacepods.ECONFLICT, "the data dir %s is in use by another Spacepods server (%s): give this server its own --data-dir (and its own --listen, --router-listen and --router-control)", abs, strings.TrimSpace(string(holder)))
	}
	_ = f.Truncate(0) // the pid note is informational; the flock is what guards the dir
	fmt.Fprintf(f, "pid %d, API on %s", os.Getpid(), listen)
	return f, nil
}
