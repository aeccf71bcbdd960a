package docker

import (
	"errors"
	"strings"
	"testing"

	"github.com/spacepods/spacepods/internal/spacepods"
)

// TestPoolError_NamesTheCauseAndBothFixes: Docker's out-of-pools error
// becomes one that says what happened and what to do; others pass through.
func TestPoolError_NamesTheCauseAndBothFixes(t *testing.T) {
	// The daemon's words (Docker 20.10 through 27).
	daemon := errors.New("Error response from daemon: could not find an available, non-overlapping IPv4 address pool among the defaults to assign to the network")
	err := poolError("alice-1", daemon)
	if spacepods.ErrorCode(err) != spacepods.EUNAVAILABLE {
		t.Fatalf("code %q, want unavailable: %v", spacepods.ErrorCode(err), err)
	}
	msg := spacepods.ErrorMessage(err)
	for _, want := range []string{`"alice-1"`, "run out of address pools", "spacepods pod destroy NAME", "default-address-pools", "/etc/docker/daemon.json", "restart dockerd"} {
		if !strings.Contains(msg, want) {
			t.Errorf("message lacks %q:\n%s", want, msg)
		}
	}
	for _, other := range []error{nil, errors.New("Error response from daemon: network with name spacepods-x already exists")} {
		if got := poolError("x", other); got != nil {
			t.Errorf("poolError(%v) = %v, want nil", other, got)
		}
	}
}
