// Package scripts holds the tests of the shell scripts that set up a machine
// (run.sh, test.sh, lib.sh).
package scripts

import (
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// fakeHost is a PATH on which `dockerd` is a stand-in that records its PID,
// `docker info` answers only while it runs, and `go` (the build step) either
// fails or hangs, so run.sh can be stopped at a known point.
type fakeHost struct {
	dir, pidFile string
}

func newFakeHost(t *testing.T, goBehaviour string) *fakeHost {
	t.Helper()
	dir := t.TempDir()
	h := &fakeHost{dir: dir, pidFile: filepath.Join(dir, "dockerd.pid")}
	scripts := map[string]string{
		// Ignores SIGINT as a real terminal's Ctrl-C would reach the script
		// too: the point is that the script stops it, by PID.
		"dockerd": `trap '' INT; trap 'rm -f "` + h.pidFile + `"; exit 0' TERM; echo $$ > "` + h.pidFile + `"; while :; do sleep 0.1; done`,
		"docker":  `[ "$1" = info ] && [ -f "` + h.pidFile + `" ] && exit 0; [ "$1" = info ] && exit 1; exit 0`,
		"go":      goBehaviour,
		"initdb":  `exit 0`,
		"psql":    `exit 0`,
	}
	for name, body := range scripts {
		if err := os.WriteFile(filepath.Join(dir, name), []byte("#!/usr/bin/env bash\n"+body+"\n"), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	return h
}

func (h *fakeHost) dockerdPID(t *testing.T) int {
	t.Helper()
	b, err := os.ReadFile(h.pidFile)
	if err != nil {
		return 0
	}
	pid, _ := strconv.Atoi(strings.TrimSpace(string(b)))
	return pid
}

func (h *fakeHost) runSh(t *testing.T) *exec.Cmd {
	t.Helper()
	cmd := exec.Command("bash", "run.sh")
	cmd.Env = append(os.Environ(), "PATH="+h.dir+":/usr/bin:/bin", "SPACEPODS_DATA_DIR="+t.TempDir(), "SPACEPODS_TMP="+t.TempDir())
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	return cmd
}

func alive(pid int) bool { return pid > 0 && syscall.Kill(pid, 0) == nil }

func waitGone(t *testing.T, pid int, what string) {
	t.Helper()
	deadline := time.Now().Add(40 * time.Second)
	for alive(pid) && time.Now().Before(deadline) {
		time.Sleep(100 * time.Millisecond)
	}
	if alive(pid) {
		syscall.Kill(pid, syscall.SIGKILL)
		t.Fatalf("%s: the dockerd run.sh started (pid %d) is still running", what, pid)
	}
}

// TestRunSh_FailedStartStopsTheDockerdItStarted: a step after dockerd's start
// fails (here the build); the script exits non-zero and its dockerd is gone.
func TestRunSh_FailedStartStopsTheDockerdItStarted(t *testing.T) {
	h := newFakeHost(t, `echo "fake build failure" >&2; exit 1`)
	cmd := h.runSh(t)
	out, err := cmd.CombinedOutput()
	if err == nil {
		t.Fatalf("run.sh succeeded with a failing build:\n%s", out)
	}
	pid := h.dockerdPID(t)
	if pid == 0 && !strings.Contains(string(out), "starting dockerd") {
		t.Fatalf("run.sh did not start the fake dockerd:\n%s", out)
	}
	waitGone(t, pid, "after a failed start")
	if !strings.Contains(string(out), "stopping the dockerd we started") {
		t.Fatalf("run.sh did not say it stops its dockerd:\n%s", out)
	}
}

// TestRunSh_CtrlCStopsTheDockerdItStarted: Ctrl-C (SIGINT to the script's
// process group, as a terminal sends it) while the script runs.
func TestRunSh_CtrlCStopsTheDockerdItStarted(t *testing.T) {
	h := newFakeHost(t, `sleep 30`)
	cmd := h.runSh(t)
	var out strings.Builder
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(20 * time.Second)
	for h.dockerdPID(t) == 0 && time.Now().Before(deadline) {
		time.Sleep(50 * time.Millisecond)
	}
	pid := h.dockerdPID(t)
	if pid == 0 {
		cmd.Process.Kill()
		cmd.Wait()
		t.Fatalf("run.sh did not start the fake dockerd:\n%s", out.String())
	}
	time.Sleep(300 * time.Millisecond) // into the (hanging) build
	syscall.Kill(-cmd.Process.Pid, syscall.SIGINT)
	err := cmd.Wait()
	if err == nil {
		t.Fatalf("run.sh exited 0 after Ctrl-C:\n%s", out.String())
	}
	waitGone(t, pid, "after Ctrl-C")
	syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) // the fake build's sleep
}

// TestLibSh_GiteaStartsOnlyForTheTestsThatUseIt: scripts/test.sh starts the
// real Gitea for the whole suite and the packages whose tests talk to it,
// and not for others (it costs a PostgreSQL database and a process).
func TestLibSh_GiteaStartsOnlyForTheTestsThatUseIt(t *testing.T) {
	for pkgs, want := range map[string]bool{
		"./...": true, "./internal/...": true, "./internal/forge/...": true, "./internal/forge/gitea": true,
		"./internal/previews/...": true, "./internal/ui/...": true, "./internal/server": true,
		"./internal/store/...": false, "./internal/router/... ./internal/catalog": false,
	} {
		err := exec.Command("bash", "-c", `. ./lib.sh; wants_gitea `+pkgs).Run()
		if got := err == nil; got != want {
			t.Errorf("wants_gitea %s = %v, want %v", pkgs, got, want)
		}
	}
}
