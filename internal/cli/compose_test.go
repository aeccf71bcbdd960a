package cli

import (
	"context"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/spacepods/spacepods/internal/runtime"
	"github.com/spacepods/spacepods/internal/secrets"
	"github.com/spacepods/spacepods/internal/spacepods"
	"github.com/spacepods/spacepods/internal/testenv"
)

// TestRuntimes_EveryDriverIsRegistered: the server offers the drivers
// listed in runtimes.go, by the IDs their Name() returns.
func TestRuntimes_EveryDriverIsRegistered(t *testing.T) {
	if got := runtime.Drivers(); !slices.Equal(got, []string{"docker", "ecs", "kubernetes"}) {
		t.Fatalf("registered runtimes %v; want docker, ecs and kubernetes", got)
	}
	if got := secrets.Backends(); !slices.Equal(got, []string{"local", "secretsmanager", "ssm", "vault"}) {
		t.Fatalf("registered secret stores %v; want local, secretsmanager, ssm and vault", got)
	}
}

// TestServer_BadFlagsFailBeforeAnythingStarts: an unknown --runtime lists
// the known ones (from the registry), and it and the other flag checks
// fail before the server takes its data dir, its port or its store.
func TestServer_BadFlagsFailBeforeAnythingStarts(t *testing.T) {
	tests := []struct {
		name string
		args []string
		want []string
	}{
		{"unknown runtime", []string{"--runtime", "nomad"}, []string{`--runtime "nomad"`, "docker, ecs, kubernetes", "none"}},
		{"unknown routing", []string{"--routing", "dns"}, []string{`--routing "dns"`, "router", "ingress", "alb"}},
		{"alb without its listener", []string{"--routing", "alb", "--alb-vpc", "vpc-1"}, []string{"--alb-listener", "--alb-vpc", "docs/aws.md"}},
		{"bad AWS endpoint", []string{"--secret-store", "ssm", "--aws-endpoint-url", "localhost:5000"}, []string{"--aws-endpoint-url", "http"}},
		{"unknown databases mode", []string{"--databases", "aurora"}, []string{`--databases "aurora"`, "shared", "rds-instance", "docs/aws.md"}},
		{"RDS master pattern without app", []string{"--databases", "rds-instance", "--rds-master-instance-pattern", "{env}-db"}, []string{"--rds-master-instance-pattern", "{app}"}},
		{"bad RDS master instance", []string{"--databases", "rds-instance", "--rds-master-instance", "production=prod-db"}, []string{"--rds-master-instance", "ENV/APP=INSTANCE-ID"}},
		{"no streams", []string{"--max-streams", "0"}, []string{"--max-streams"}},
		{"bad log level", []string{"--log-level", "loud"}, []string{"--log-level"}},
		{"registry as a URL", []string{"--registry", "https://registry.example"}, []string{`--registry "https://registry.example"`, "host[:port]"}},
		{"login without a registry host", []string{"--registry-username", "ci"}, []string{"--registry HOST"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dataDir := filepath.Join(t.TempDir(), "data")
			cmd := newServerCmd(&globals{dataDir: dataDir})
			cmd.SetArgs(append(tt.args, "--listen", "127.0.0.1:0"))
			cmd.SetOut(&strings.Builder{})
			cmd.SetErr(&strings.Builder{})
			cmd.SilenceUsage, cmd.SilenceErrors = true, true
			err := cmd.ExecuteContext(context.Background())
			if spacepods.ErrorCode(err) != spacepods.EINVALID {
				t.Fatalf("want EINVALID, got %v", err)
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Fatalf("error %q does not say %q", err, w)
				}
			}
			if _, err := os.Stat(dataDir); !os.IsNotExist(err) {
				t.Fatalf("the data dir was made before the flags were checked (%v)", err)
			}
		})
	}
}

// plainDriver has no optional abilities; ingressDriver routes app hosts.
type plainDriver struct{ runtime.Driver }

func (plainDriver) Name() string { return "plain" }

type ingressDriver struct{ plainDriver }

func (ingressDriver) Route(context.Context, string, string, string) (string, error) { return "", nil }
func (ingressDriver) Unroute(context.Context, string, string) error                 { return nil }

// TestRoutingOf_DefaultsByCapability: --routing defaults to the runtime's
// own routes when the driver is a runtime.Ingresser, else the edge router;
// ingress on a driver without routes is refused.
func TestRoutingOf_DefaultsByCapability(t *testing.T) {
	tests := []struct {
		name        string
		flag        string
		drv         runtime.Driver
		want        string
		wantIngress bool
		wantErr     bool
	}{
		{"plain driver, default", "", plainDriver{}, runtime.RoutingRouter, false, false},
		{"ingresser, default", "", ingressDriver{}, runtime.RoutingIngress, true, false},
		{"ingresser, router asked", "router", ingressDriver{}, runtime.RoutingRouter, false, false},
		{"plain driver, ingress asked", "ingress", plainDriver{}, "", false, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			routing, ingress, err := routingOf(serverConfig{routing: tt.flag, runtime: "plain"}, tt.drv)
			if tt.wantErr {
				if spacepods.ErrorCode(err) != spacepods.EINVALID || !strings.Contains(err.Error(), "--routing") {
					t.Fatalf("want EINVALID naming --routing, got %v", err)
				}
				return
			}
			if err != nil || routing != tt.want || (ingress != nil) != tt.wantIngress {
				t.Fatalf("routing %q, ingress %v, err %v; want %q, ingress %v", routing, ingress, err, tt.want, tt.wantIngress)
			}
		})
	}
}

// TestDeployPause_ReadsTheTestHook: SPACEPODS_TEST_DEPLOY_PAUSE is read in
// one place; unset means no pause, a malformed value is an error that
// shows the form.
func TestDeployPause_ReadsTheTestHook(t *testing.T) {
	tests := []struct {
		name    string
		value   string
		step    string
		d       time.Duration
		wantErr bool
	}{
		{"unset", "", "", 0, false},
		{"step and duration", "migrate=5s", "migrate", 5 * time.Second, false},
		{"no duration", "migrate", "", 0, true},
		{"no step", "=5s", "", 0, true},
		{"bad duration", "rollout=soon", "", 0, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Setenv(deployPauseEnv, tt.value)
			step, d, err := deployPause(testenv.Logger(t, "server", 0))
			if tt.wantErr {
				if spacepods.ErrorCode(err) != spacepods.EINVALID || !strings.Contains(err.Error(), "STEP=DURATION") {
					t.Fatalf("want EINVALID showing STEP=DURATION, got %v", err)
				}
				return
			}
			if err != nil || step != tt.step || d != tt.d {
				t.Fatalf("got %q %s %v; want %q %s", step, d, err, tt.step, tt.d)
			}
		})
	}
}
