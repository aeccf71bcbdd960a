package statefile_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/spacepods/spacepods/internal/spacepods"
	"github.com/spacepods/spacepods/internal/statefile"
)

func TestPort_ChosenOnceThenKeptUnlessAFlagSaysOtherwise(t *testing.T) {
	p := statefile.Port{Path: filepath.Join(t.TempDir(), "port"), Host: "127.0.0.1", Flag: "--x-port", What: "x"}
	first, err := p.Get(0)
	if err != nil || first <= 0 {
		t.Fatalf("first: %d %v", first, err)
	}
	if again, err := p.Get(0); err != nil || again != first {
		t.Fatalf("kept port: %d %v, want %d", again, err, first)
	}
	if set, err := p.Get(4321); err != nil || set != 4321 {
		t.Fatalf("flag: %d %v", set, err)
	}
	if kept, err := p.Get(0); err != nil || kept != 4321 {
		t.Fatalf("after the flag: %d %v, want 4321 kept", kept, err)
	}
	if _, err := p.Get(70000); spacepods.ErrorCode(err) != spacepods.EINVALID {
		t.Fatalf("out of range: %v, want EINVALID", err)
	}
	// A damaged file is replaced by a fresh choice, not an error.
	if err := os.WriteFile(p.Path, []byte("garbage"), 0o600); err != nil {
		t.Fatal(err)
	}
	if port, err := p.Get(0); err != nil || port <= 0 {
		t.Fatalf("damaged file: %d %v", port, err)
	}
}

// TestPort_AnAddressThisMachineLacksSaysWhatToDo: a gateway address that is
// gone (docker0 deleted under a running dockerd) is named as such, with the
// way out. 192.0.2.1 is a documentation address no machine here has; binding
// to it sends nothing.
func TestPort_AnAddressThisMachineLacksSaysWhatToDo(t *testing.T) {
	p := statefile.Port{Path: filepath.Join(t.TempDir(), "port"), Host: "192.0.2.1", Flag: "--x-port", What: "the edge router's internal listener"}
	_, err := p.Get(0)
	if spacepods.ErrorCode(err) != spacepods.EUNAVAILABLE || !strings.Contains(err.Error(), "not an address of this machine") || !strings.Contains(err.Error(), "restart dockerd") {
		t.Fatalf("got %v", err)
	}
	if _, statErr := os.Stat(p.Path); !os.IsNotExist(statErr) {
		t.Fatalf("a port was kept for an address that is not there: %v", statErr)
	}
}

func TestWriteAtomic_ReplacesWholeFileWithItsMode(t *testing.T) {
	path := filepath.Join(t.TempDir(), "f")
	if err := statefile.WriteAtomic(path, []byte("one"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := statefile.WriteAtomic(path, []byte("two"), 0o640); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(path)
	fi, _ := os.Stat(path)
	if err != nil || string(b) != "two" || fi.Mode().Perm() != 0o640 {
		t.Fatalf("got %q mode %v err %v", b, fi.Mode().Perm(), err)
	}
	left, _ := filepath.Glob(filepath.Join(filepath.Dir(path), ".*tmp"))
	if len(left) != 0 {
		t.Fatalf("temporary files left: %v", left)
	}
}
