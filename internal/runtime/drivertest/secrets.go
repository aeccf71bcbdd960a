package drivertest

import (
	"context"
	"encoding/json"
	"maps"
	"strings"
	"testing"

	"github.com/spacepods/spacepods/internal/runtime"
	"github.com/spacepods/spacepods/internal/spacepods"
)

// The secret the suite's specs refer to, and its value.
const (
	SecretRef   = "apps/drivertest/all/API_TOKEN"
	SecretValue = "s3cr3t-drivertest-5f1c"
	// MissingSecretRef is a reference Secrets has no value for.
	MissingSecretRef = "apps/drivertest/all/GONE"
)

// Secrets is the secret store of the suite: the drivers that newDriver
// returns must read secret values through it (docker.WithSecrets,
// kubernetes.Config.Secrets). It knows SecretRef only.
var Secrets runtime.SecretResolver = secretStore{SecretRef: SecretValue}

type secretStore map[string]string

func (s secretStore) ResolveSecrets(_ context.Context, refs map[string]string) (map[string]string, error) {
	out := map[string]string{}
	for k, ref := range refs {
		v, ok := s[ref]
		if !ok {
			return nil, spacepods.Errorf(spacepods.ENOTFOUND, "secret %s: no secret %q", k, ref)
		}
		out[k] = v
	}
	return out, nil
}

// replicaEnv returns the env that every replica of a service sees, by
// replica ID.
func (s *suite) replicaEnv(t *testing.T, st runtime.ServiceStatus) map[string]map[string]string {
	t.Helper()
	out := map[string]map[string]string{}
	for _, r := range st.Replicas {
		var got map[string]string
		if s.simulated() {
			var err error
			if got, err = s.opts.Simulated.Env(s.ctx(t), st.Environment, st.Name); err != nil {
				t.Fatalf("Simulation.Env: %v", err)
			}
		} else {
			_, body := get(t, "http://"+r.Addr+"/env")
			if err := json.Unmarshal([]byte(body), &got); err != nil {
				t.Fatalf("GET /env of %s: %v in %q", r.ID, err, body)
			}
		}
		out[r.ID] = got
	}
	return out
}

// testSecrets: secret env vars reach every replica, also those started
// later by another driver (from zero replicas too), and tasks; a reference
// without a value fails the create and leaves nothing behind.
func testSecrets(t *testing.T, s *suite) {
	env := s.env(t, "secrets")
	spec := s.web(env, "web", map[string]string{"PLAIN": "visible"})
	spec.Secrets = map[string]string{"API_TOKEN": SecretRef}
	s.create(t, spec)
	check := func(t *testing.T, n int) {
		t.Helper()
		st := s.healthy(t, env, spec.Name, n)
		envs := s.replicaEnv(t, st)
		for id, got := range envs {
			if got["API_TOKEN"] != SecretValue || got["PLAIN"] != "visible" {
				t.Errorf("replica %s sees API_TOKEN=%q PLAIN=%q, want the secret's value and the plain var", id, got["API_TOKEN"], got["PLAIN"])
			}
		}
		if len(envs) != n {
			t.Errorf("env of %d replicas, want %d", len(envs), n)
		}
	}
	t.Run("ReachesTheReplicas", func(t *testing.T) { check(t, 1) })
	t.Run("ReachesReplicasAnotherDriverStarts", func(t *testing.T) {
		other := s.newDriver(t)
		ctx := s.ctx(t)
		if err := other.ScaleService(ctx, env, spec.Name, 2); err != nil {
			t.Fatalf("ScaleService(2): %v", err)
		}
		check(t, 2)
		if err := other.ScaleService(ctx, env, spec.Name, 0); err != nil {
			t.Fatalf("ScaleService(0): %v", err)
		}
		if err := s.newDriver(t).ScaleService(ctx, env, spec.Name, 1); err != nil {
			t.Fatalf("ScaleService(1) from zero: %v", err)
		}
		check(t, 1)
	})
	t.Run("ReachesTasks", func(t *testing.T) {
		task := s.task(env, "migrate", "-env=API_TOKEN")
		task.Secrets = map[string]string{"API_TOKEN": SecretRef}
		res, err := s.d.RunTask(s.ctx(t), task)
		if err != nil || res.ExitCode != 0 {
			t.Fatalf("RunTask with a secret: %v (exit %d)", err, res.ExitCode)
		}
		if !s.simulated() && !strings.Contains(res.LogTail, "API_TOKEN="+SecretValue) {
			t.Errorf("task log %q: the task did not see the secret", res.LogTail)
		}
	})
	t.Run("MissingValueFailsAndLeavesNothing", func(t *testing.T) {
		ctx := s.ctx(t)
		bad := s.web(env, "bad", nil)
		bad.Secrets = map[string]string{"GONE": MissingSecretRef}
		err := s.d.CreateService(ctx, bad)
		wantCode(t, err, spacepods.ENOTFOUND, "CreateService with a secret the store does not have")
		_, err = s.d.ServiceStatus(ctx, env, bad.Name)
		wantCode(t, err, spacepods.ENOTFOUND, "ServiceStatus of a service whose secrets could not be read")
		task := s.task(env, "migrate")
		task.Secrets = maps.Clone(bad.Secrets)
		_, err = s.d.RunTask(ctx, task)
		wantCode(t, err, spacepods.ENOTFOUND, "RunTask with a secret the store does not have")
	})
	t.Run("APlainAndASecretVarOfOneNameAreInvalid", func(t *testing.T) {
		dup := s.web(env, "dup", map[string]string{"API_TOKEN": "plain"})
		dup.Secrets = map[string]string{"API_TOKEN": SecretRef}
		wantCode(t, s.d.CreateService(s.ctx(t), dup), spacepods.EINVALID, "CreateService with API_TOKEN both plain and secret")
	})
}
