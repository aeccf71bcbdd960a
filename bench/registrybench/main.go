// Command registrybench measures how long a pushed image takes to become a
// recorded build: the time from a push returning (go-containerregistry's
// remote.Write, what `docker push` does) to the build being readable through
// the API, over N pushes, p50 and p90. The whole path is real: the
// `spacepods server` binary as its own process, its embedded docker-registry
// (started by the server), the registry's notification to
// POST /api/v1/hooks/registry, the image's labels read back from the
// registry, the build stored in SQLite.
//
//	go run ./bench/registrybench [-n 50]
//
// Baseline, measured in the same run: the push itself, and CI recording the
// same build by hand (`POST /api/v1/apps/{name}/builds`, what `spacepods
// build record` sends).
package main

import (
	"context"
	"flag"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/random"
	"github.com/google/go-containerregistry/pkg/v1/remote"

	"github.com/spacepods/spacepods/client"
	"github.com/spacepods/spacepods/internal/builds"
	"github.com/spacepods/spacepods/internal/spacepods"
)

func main() {
	n := flag.Int("n", 50, "pushes to measure")
	flag.Parse()
	if _, err := exec.LookPath("docker-registry"); err != nil {
		fail("docker-registry is not on PATH: install Debian's docker-registry package (scripts/test.sh does it)")
	}
	tmp, err := os.MkdirTemp("", "registrybench")
	check(err)
	defer func() { _ = os.RemoveAll(tmp) }() // best-effort cleanup; nothing useful to do on failure
	bin := filepath.Join(tmp, "spacepods")
	build := exec.Command("go", "build", "-o", bin, "./cmd/spacepods")
	build.Env = append(os.Environ(), "CGO_ENABLED=0")
	build.Stderr = os.Stderr
	check(build.Run())

	dataDir := filepath.Join(tmp, "data")
	api := "127.0.0.1:" + freePort()
	logf, err := os.Create(filepath.Join(tmp, "server.log"))
	check(err)
	srv := exec.Command(bin, "server", "--runtime", "none", "--registry", "embedded", "--data-dir", dataDir, "--listen", api, "--log-level", "warn")
	srv.Stdout, srv.Stderr = logf, logf
	check(srv.Start())
	cleanup = func() { stop(srv, dataDir) }
	defer func() { cleanup() }()
	waitHealthy(api, logf.Name())
	tok, err := os.ReadFile(filepath.Join(dataDir, "admin.token"))
	check(err)
	c := client.New("http://"+api, strings.TrimSpace(string(tok)))
	ctx := context.Background()
	_, _, err = c.RegisterApp(ctx, []byte("name: web\nrepo: acme/web\nkind: web\nport: 8080\nimage: {repository: bench/web}\n"), "")
	check(err)
	port, err := os.ReadFile(filepath.Join(builds.Dir(dataDir), "port"))
	check(err)
	host := "127.0.0.1:" + strings.TrimSpace(string(port))

	fmt.Printf("registry benchmark: %d pushes of a 2-layer image to the embedded registry (%s), build recorded from its notification\n", *n, host)
	fmt.Printf("target: push → recorded build p50 <= 1 s\n\n")
	var pushes, recorded, byHand []time.Duration
	for i := 1; i <= *n; i++ {
		img := image(i)
		ref, err := name.ParseReference(fmt.Sprintf("%s/bench/web:%d", host, i))
		check(err)
		start := time.Now()
		check(remote.Write(ref, img))
		pushed := time.Now()
		pushes = append(pushes, pushed.Sub(start))
		waitBuild(ctx, c, "web", i)
		recorded = append(recorded, time.Since(pushed))

		// Baseline: CI records a build by hand.
		start = time.Now()
		_, err = c.RecordBuild(ctx, spacepods.Build{App: "web", Number: 100000 + i, GitSHA: "0123456789abcdef", Branch: "main", Image: ref.String()})
		check(err)
		byHand = append(byHand, time.Since(start))
	}
	evs, err := c.RegistryEvents(ctx, spacepods.RegistryEventRejected, 10)
	check(err)
	if len(evs) > 0 {
		fail(fmt.Sprintf("%d pushes were rejected, e.g. %s", len(evs), evs[0].Reason))
	}
	fmt.Printf("%-44s %10s %10s\n", "", "p50", "p90")
	row("push (remote.Write returns)", pushes)
	row("push returned → build recorded (notification)", recorded)
	row("baseline: POST builds by hand (CI)", byHand)
	p50 := pct(recorded, 50)
	fmt.Printf("\npush → recorded p50 / hand-recorded p50: %.1fx; / push p50: %.2fx\n", ratio(p50, pct(byHand, 50)), ratio(p50, pct(pushes, 50)))
	verdict := "meets"
	if p50 > time.Second {
		verdict = "MISSES"
	}
	fmt.Printf("push → recorded p50 %s %s the 1 s target\n", p50.Round(100*time.Microsecond), verdict)
}

// image is a small image with the labels CI puts on its builds, distinct
// per i (so each push is a new manifest).
func image(i int) v1.Image {
	img, err := random.Image(4096, 2)
	check(err)
	img, err = mutate.Config(img, v1.Config{Labels: map[string]string{
		builds.LabelRevision: fmt.Sprintf("%040x", i),
		builds.LabelBranch:   "main",
	}})
	check(err)
	return img
}

func waitBuild(ctx context.Context, c *client.Client, app string, number int) {
	deadline := time.Now().Add(30 * time.Second)
	for {
		_, err := c.GetBuild(ctx, app, number)
		if err == nil {
			return
		}
		if spacepods.ErrorCode(err) != spacepods.ENOTFOUND || time.Now().After(deadline) {
			fail(fmt.Sprintf("build %s#%d: %v", app, number, err))
		}
		time.Sleep(2 * time.Millisecond)
	}
}

func row(what string, ds []time.Duration) {
	fmt.Printf("%-44s %10s %10s\n", what, pct(ds, 50).Round(100*time.Microsecond), pct(ds, 90).Round(100*time.Microsecond))
}

func pct(ds []time.Duration, p int) time.Duration {
	s := append([]time.Duration(nil), ds...)
	sort.Slice(s, func(i, j int) bool { return s[i] < s[j] })
	return s[(len(s)-1)*p/100]
}

func ratio(a, b time.Duration) float64 { return float64(a) / float64(b) }

func waitHealthy(api, logPath string) {
	deadline := time.Now().Add(60 * time.Second)
	for time.Now().Before(deadline) {
		if resp, err := http.Get("http://" + api + "/healthz"); err == nil {
			_ = resp.Body.Close()
			if resp.StatusCode == 200 {
				return
			}
		}
		time.Sleep(100 * time.Millisecond)
	}
	b, _ := os.ReadFile(logPath)
	fail("the server did not answer within 60s:\n" + string(b))
}

// stop ends the server, then the registry it started (its own process), by
// their pids.
func stop(srv *exec.Cmd, dataDir string) {
	_ = srv.Process.Signal(syscall.SIGTERM)
	_, _ = srv.Process.Wait()
	if b, err := os.ReadFile(filepath.Join(builds.Dir(dataDir), "registry.pid")); err == nil {
		if pid, err := strconv.Atoi(strings.TrimSpace(string(b))); err == nil {
			_ = syscall.Kill(pid, syscall.SIGTERM)
		}
	}
}

func freePort() string {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	check(err)
	defer func() { _ = l.Close() }()
	_, p, _ := net.SplitHostPort(l.Addr().String())
	return p
}

func check(err error) {
	if err != nil {
		fail(err.Error())
	}
}

// cleanup stops what the benchmark started; fail runs it before exiting.
var cleanup = func() {}

func fail(msg string) {
	fmt.Fprintln(os.Stderr, "registrybench:", msg)
	cleanup()
	os.Exit(1)
}
