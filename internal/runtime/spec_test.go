package runtime

import (
	"strings"
	"testing"
	"time"

	"github.com/spacepods/spacepods/internal/spacepods"
)

// TestTaskSpec_Validate covers the rules both drivers' RunTask rely on.
func TestTaskSpec_Validate(t *testing.T) {
	ok := TaskSpec{Name: "migrate", Environment: "qa", App: "catalog-api", Image: "catalog-api:1", Env: map[string]string{"A": "1"}, Secrets: map[string]string{"TOKEN": "apps/catalog-api/qa/TOKEN"}}
	tests := []struct {
		name   string
		change func(*TaskSpec)
		want   string // "" = valid; else a part of the EINVALID message
	}{
		{"valid", func(*TaskSpec) {}, ""},
		{"no timeout is the default", func(s *TaskSpec) { s.Timeout = 0 }, ""},
		{"environment not a DNS label", func(s *TaskSpec) { s.Environment = "QA_1" }, `environment name "QA_1" is not a DNS label`},
		{"empty environment", func(s *TaskSpec) { s.Environment = "" }, "environment name"},
		{"task name not a DNS label", func(s *TaskSpec) { s.Name = "-migrate" }, `task name "-migrate" is not a DNS label`},
		{"task name too long", func(s *TaskSpec) { s.Name = strings.Repeat("a", 64) }, "task name"},
		{"no image", func(s *TaskSpec) { s.Image = "" }, `task "migrate" has no image`},
		{"bad secret var name", func(s *TaskSpec) { s.Secrets = map[string]string{"1X": "apps/a/qa/X"} }, `secret env var "1X" is not a valid name`},
		{"secret without reference", func(s *TaskSpec) { s.Secrets = map[string]string{"X": ""} }, "secret env var X has no reference"},
		{"secret also plain", func(s *TaskSpec) { s.Env = map[string]string{"TOKEN": "x"} }, "TOKEN is both a plain and a secret env var"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			spec := ok
			tc.change(&spec)
			checkValidation(t, spec.Validate(), tc.want)
		})
	}
}

func TestTaskSpec_TimeoutOrDefault(t *testing.T) {
	tests := []struct {
		name    string
		timeout time.Duration
		want    time.Duration
	}{
		{"unset", 0, DefaultTaskTimeout},
		{"negative", -time.Second, DefaultTaskTimeout},
		{"set", 90 * time.Second, 90 * time.Second},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := (TaskSpec{Timeout: tc.timeout}).TimeoutOrDefault(); got != tc.want {
				t.Fatalf("TimeoutOrDefault() = %s, want %s", got, tc.want)
			}
		})
	}
}

func TestTaskTimedOut_SaysWhatToDo(t *testing.T) {
	err := TaskTimedOut("migrate", 2*time.Minute)
	if spacepods.ErrorCode(err) != spacepods.EINVALID || !strings.Contains(spacepods.ErrorMessage(err), `task "migrate" was still running after its timeout of 2m0s`) || !strings.Contains(spacepods.ErrorMessage(err), "raise the timeout") {
		t.Fatalf("TaskTimedOut = %v", err)
	}
}

func TestServiceSpec_Validate(t *testing.T) {
	ok := ServiceSpec{Name: "web-r1", Environment: "qa", Role: RoleWeb, Image: "web:1", Replicas: 2, Port: 8080, Health: HealthCheck{Path: "/healthz"}}
	tests := []struct {
		name   string
		change func(*ServiceSpec)
		want   string
	}{
		{"valid", func(*ServiceSpec) {}, ""},
		{"worker without port", func(s *ServiceSpec) { s.Role, s.Port, s.Health = RoleWorker, 0, HealthCheck{} }, ""},
		{"bad environment", func(s *ServiceSpec) { s.Environment = "qa." }, "environment name"},
		{"bad name", func(s *ServiceSpec) { s.Name = "Web" }, "service name"},
		{"task role", func(s *ServiceSpec) { s.Role = RoleTask }, "is for RunTask"},
		{"unknown role", func(s *ServiceSpec) { s.Role = "cron" }, "use web or worker"},
		{"no image", func(s *ServiceSpec) { s.Image = "" }, "has no image"},
		{"negative replicas", func(s *ServiceSpec) { s.Replicas = -1 }, "replicas must be 0 or more"},
		{"port out of range", func(s *ServiceSpec) { s.Port = 70000 }, "out of range"},
		{"relative health path", func(s *ServiceSpec) { s.Health.Path = "healthz" }, "health path must start with /"},
		{"secret also plain", func(s *ServiceSpec) {
			s.Env, s.Secrets = map[string]string{"K": "v"}, map[string]string{"K": "apps/web/qa/K"}
		}, "both a plain and a secret"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			spec := ok
			tc.change(&spec)
			checkValidation(t, spec.Validate(), tc.want)
		})
	}
}

func TestValidateReplicas(t *testing.T) {
	for _, tc := range []struct {
		name string
		n    int
		ok   bool
	}{{"zero", 0, true}, {"some", 3, true}, {"negative", -1, false}} {
		t.Run(tc.name, func(t *testing.T) {
			err := ValidateReplicas(tc.n)
			if (err == nil) != tc.ok || (err != nil && spacepods.ErrorCode(err) != spacepods.EINVALID) {
				t.Fatalf("ValidateReplicas(%d) = %v", tc.n, err)
			}
		})
	}
}

// checkValidation: want "" means the spec is valid; else EINVALID whose
// message contains want.
func checkValidation(t *testing.T, err error, want string) {
	t.Helper()
	switch {
	case want == "" && err != nil:
		t.Fatalf("valid spec refused: %v", err)
	case want != "" && (spacepods.ErrorCode(err) != spacepods.EINVALID || !strings.Contains(spacepods.ErrorMessage(err), want)):
		t.Fatalf("error %v, want EINVALID containing %q", err, want)
	}
}
