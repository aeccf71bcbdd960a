package cli

import (
	"strings"
	"testing"
	"time"

	"github.com/spacepods/spacepods/internal/spacepods"
)

// TestServerFlags_TakeTheirEnvironmentVariables: the web flags read
// SPACEPODS_*, the command line wins, and a bad value is an error naming
// the variable (not a silent default).
func TestServerFlags_TakeTheirEnvironmentVariables(t *testing.T) {
	t.Setenv("SPACEPODS_POD_QUOTA", "9")
	t.Setenv("SPACEPODS_HTTP_WRITE_TIMEOUT", "90s")
	t.Setenv("SPACEPODS_TRUSTED_PROXY", "10.0.0.0/8,127.0.0.1")
	t.Setenv("SPACEPODS_MAX_STREAMS", "7")
	t.Setenv("SPACEPODS_DEFAULT_TTL", "2h")
	t.Setenv("SPACEPODS_ROUTER_INTERNAL_PORT", "18123")
	cmd := newServerCmd(&globals{})
	if err := cmd.ParseFlags([]string{"--max-streams", "3"}); err != nil {
		t.Fatal(err)
	}
	if err := applyEnv(cmd, envFlags); err != nil {
		t.Fatal(err)
	}
	get := func(name string) string { return cmd.Flags().Lookup(name).Value.String() }
	if get("pod-quota") != "9" || get("http-write-timeout") != (90*time.Second).String() || get("trusted-proxy") != "[10.0.0.0/8,127.0.0.1]" || get("max-streams") != "3" {
		t.Fatalf("pod-quota %s, http-write-timeout %s, trusted-proxy %s, max-streams %s", get("pod-quota"), get("http-write-timeout"), get("trusted-proxy"), get("max-streams"))
	}
	if get("default-ttl") != "2h0m0s" || get("router-internal-port") != "18123" || get("reap-interval") != "30s" {
		t.Fatalf("default-ttl %s, router-internal-port %s, reap-interval %s", get("default-ttl"), get("router-internal-port"), get("reap-interval"))
	}
	if get("max-streams-per-user") != "16" || get("http-read-timeout") != "1m0s" || get("http-idle-timeout") != "2m0s" {
		t.Fatalf("defaults: %s %s %s", get("max-streams-per-user"), get("http-read-timeout"), get("http-idle-timeout"))
	}

	t.Setenv("SPACEPODS_POD_QUOTA", "lots")
	err := applyEnv(newServerCmd(&globals{}), envFlags)
	if spacepods.ErrorCode(err) != spacepods.EINVALID || !strings.Contains(err.Error(), "SPACEPODS_POD_QUOTA") {
		t.Fatalf("a bad value: %v", err)
	}
}
