// Package statefile keeps the small files a process leaves in its data dir
// (route snapshots, chosen ports): written atomically, so a crash leaves
// the old file or the new one, never half of one.
package statefile

import (
	"errors"
	"fmt"
	"io/fs"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"

	"github.com/spacepods/spacepods/internal/spacepods"
)

// WriteAtomic writes data to a temporary file beside path and renames it
// over path, then syncs the directory so that the rename itself is durable.
func WriteAtomic(path string, data []byte, perm fs.FileMode) error {
	dir := filepath.Dir(path)
	f, err := os.CreateTemp(dir, "."+filepath.Base(path)+".*.tmp")
	if err != nil {
		return err
	}
	tmp := f.Name()
	defer func() { _ = os.Remove(tmp) }() // no-op after a successful rename
	if _, err := f.Write(data); err != nil {
		_ = f.Close() // best-effort cleanup; the write error is the one to report
		return err
	}
	if err := f.Chmod(perm); err != nil {
		_ = f.Close() // best-effort cleanup; the chmod error is the one to report
		return err
	}
	if err := f.Sync(); err != nil {
		_ = f.Close() // best-effort cleanup; the sync error is the one to report
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	if err := os.Rename(tmp, path); err != nil {
		return err
	}
	if d, err := os.Open(dir); err == nil {
		_ = d.Sync()
		_ = d.Close() // read-only handle
	}
	return nil
}

// Port is a TCP port chosen once and kept in a file, so that what was told
// the port (apps' URLs, a registry's clients) stays right across restarts.
type Port struct {
	Path string // the file that keeps it
	Host string // where a free port is looked for: "127.0.0.1", a gateway address
	Flag string // the flag that sets it, for errors: "--registry-port"
	What string // what listens there, for errors: "the registry"
}

// Get returns flag when it is set (and keeps it), else the kept port, else
// a port free on Host now (and keeps it). EINVALID for a flag out of range,
// EUNAVAILABLE when no port is free.
func (p Port) Get(flag int) (int, error) {
	if flag < 0 || flag > 65535 {
		return 0, spacepods.Errorf(spacepods.EINVALID, "%s %d: use a port from 1 to 65535, or 0 for a free one", p.Flag, flag)
	}
	if flag > 0 {
		return flag, p.keep(flag)
	}
	data, err := os.ReadFile(p.Path)
	if err == nil {
		if port, err := strconv.Atoi(strings.TrimSpace(string(data))); err == nil && port > 0 && port < 65536 {
			return port, nil
		}
	} else if !os.IsNotExist(err) {
		return 0, fmt.Errorf("read the port of %s from %s: %w", p.What, p.Path, err)
	}
	ln, err := net.Listen("tcp", net.JoinHostPort(p.Host, "0"))
	if errors.Is(err, syscall.EADDRNOTAVAIL) {
		return 0, spacepods.Errorf(spacepods.EUNAVAILABLE, "no port on %s for %s: %s is not an address of this machine now (%v); "+
			"when it is the Docker bridge's gateway, the bridge (docker0) is gone or down: restart dockerd so that it makes it again, then start again", p.Host, p.What, p.Host, err)
	}
	if err != nil {
		return 0, spacepods.Errorf(spacepods.EUNAVAILABLE, "no free port on %s for %s: %v", p.Host, p.What, err)
	}
	port := ln.Addr().(*net.TCPAddr).Port
	_ = ln.Close() // only picking a port
	return port, p.keep(port)
}

func (p Port) keep(port int) error {
	return WriteAtomic(p.Path, []byte(strconv.Itoa(port)+"\n"), 0o600)
}
