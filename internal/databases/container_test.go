package databases

import (
	"bufio"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/spacepods/spacepods/internal/runtime"
	"github.com/spacepods/spacepods/internal/runtime/docker"
	"github.com/spacepods/spacepods/internal/testenv"
)

// probeResult is one login pgprobe (testdata/pgprobe) tried in a container.
type probeResult struct {
	Probe    string `json:"probe"`
	OK       bool   `json:"ok"`
	User     string `json:"user"`
	Database string `json:"database"`
	Code     string `json:"code"`
	Error    string `json:"error"`
}

// pgprobeBinary compiles testdata/pgprobe as a static Linux binary once.
func pgprobeBinary(t testing.TB) []byte {
	t.Helper()
	return testenv.GoBinary(t, "./testdata/pgprobe")
}

// probeFromContainer tries each login (name → URL) from a container on an
// environment network of its own, as a pod's app would, and returns how
// each went.
func probeFromContainer(t testing.TB, probes map[string]string) map[string]probeResult {
	t.Helper()
	testenv.RequireDocker(t)
	ctx, cancel := context.WithTimeout(t.Context(), 3*time.Minute)
	defer cancel()
	d, err := docker.New(testLogger(t), docker.WithInstallation("databases-test"))
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	image, err := d.EnsureScratchImage(ctx, "spacepods-test/pgprobe", pgprobeBinary(t))
	if err != nil {
		t.Fatal(err)
	}
	b := make([]byte, 4)
	_, _ = rand.Read(b)
	env := "dbprobe-" + hex.EncodeToString(b)
	if err := d.EnsureEnvironment(ctx, runtime.EnvSpec{Name: env}); err != nil {
		t.Fatal(err)
	}
	defer func() {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		if err := d.DestroyEnvironment(ctx, env); err != nil {
			t.Errorf("cleanup: destroy environment %s: %v", env, err)
		}
	}()
	vars := map[string]string{}
	for name, url := range probes {
		vars["PROBE_"+name] = url
	}
	res, err := d.RunTask(ctx, runtime.TaskSpec{Name: "probe", Environment: env, App: "probe", Image: image, Env: vars, Timeout: 2 * time.Minute})
	if err != nil || res.ExitCode != 0 {
		t.Fatalf("pgprobe in a container: exit %d, %v\n%s", res.ExitCode, err, res.LogTail)
	}
	out := map[string]probeResult{}
	sc := bufio.NewScanner(strings.NewReader(res.LogTail))
	for sc.Scan() {
		var r probeResult
		if json.Unmarshal([]byte(sc.Text()), &r) == nil && r.Probe != "" {
			out[r.Probe] = r
			t.Logf("from a container: %s: ok=%v %s %s", r.Probe, r.OK, r.Code, r.Error)
		}
	}
	for name := range probes {
		if _, ok := out[name]; !ok {
			t.Fatalf("pgprobe printed nothing for %s:\n%s", name, res.LogTail)
		}
	}
	return out
}

// wantProbe fails t unless the login went as wanted: ok, or refused with
// one of the SQLSTATEs (any failure when none are given).
func wantProbe(t testing.TB, got map[string]probeResult, name string, ok bool, codes ...string) {
	t.Helper()
	r := got[name]
	switch {
	case ok && !r.OK:
		t.Errorf("%s from a container failed, want it to work: %s", name, r.Error)
	case !ok && r.OK:
		t.Errorf("%s from a container worked (as %s in %s), want it refused", name, r.User, r.Database)
	case !ok && len(codes) > 0 && !slices.Contains(codes, r.Code):
		t.Errorf("%s from a container failed with %q (%s), want SQLSTATE %v", name, r.Code, r.Error, codes)
	}
}
