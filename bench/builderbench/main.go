// Command builderbench measures the built-in builder's end-to-end time (git
// fetch, context, Docker build, push, record; from the job's start, so
// without its wait in the queue) against a plain `docker build` + `docker
// push` of the same context, in the same run: runs alternate which goes
// first, each builds a new commit with fresh content (so both send, build
// and push a new layer), and the medians and their ratio are printed as a
// table and as one line of JSON.
//
//	go run ./bench/builderbench [-runs 7] [-payload 65536] [-registry HOST:PORT] [-v]
//
// Without -registry it starts Debian's docker-registry on a free loopback
// port (storage in a temporary directory). It needs git, go, docker and a
// Docker Engine; images are FROM scratch (no public registry is reached).
// Everything it creates (images, directories, the registry) is removed.
package main

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"flag"
	"fmt"
	"log"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"

	"github.com/docker/docker/api/types/image"
	"github.com/docker/docker/client"

	"github.com/spacepods/spacepods/bench/internal/benchstat"
	"github.com/spacepods/spacepods/internal/builds"
	"github.com/spacepods/spacepods/internal/builds/builder"
	"github.com/spacepods/spacepods/internal/spacepods"
	"github.com/spacepods/spacepods/internal/store"
)

const dockerfile = "FROM scratch\nCOPY hello /hello\nCOPY payload /payload\nENTRYPOINT [\"/hello\"]\n"

func main() {
	runs := flag.Int("runs", 7, "measured runs of each (after one warm-up run of each)")
	payload := flag.Int("payload", 64<<10, "bytes of fresh random content per run: a new layer to build and push, and new git objects to fetch (random, so incompressible)")
	regHost := flag.String("registry", "", "registry host:port to push to (empty: start docker-registry on loopback)")
	verbose := flag.Bool("v", false, "print the builder's phase times (fetch, build, push) of each run")
	flag.Parse()
	ctx := context.Background()
	base, err := os.MkdirTemp("", "builderbench-")
	benchstat.Check(err)
	defer func() { _ = os.RemoveAll(base) }() // best-effort cleanup; nothing useful to do on failure

	if *regHost == "" {
		stop := startRegistry(base, regHost)
		defer stop()
	}
	dc, err := client.NewClientWithOpts(client.FromEnv, client.WithAPIVersionNegotiation())
	benchstat.Check(err)
	defer func() { _ = dc.Close() }() // best-effort cleanup
	repoName := "builderbench-" + randomHex(4)
	defer removeImages(ctx, dc, *regHost+"/"+repoName)

	// The app's repository: a Dockerfile FROM scratch, a static Go binary,
	// and the payload that changes at every run.
	repo := filepath.Join(base, "repo")
	benchstat.Check(os.MkdirAll(repo, 0o755))
	run(repo, nil, "git", "init", "-q", "-b", "main")
	hello := filepath.Join(repo, "hello")
	run(".", append(os.Environ(), "CGO_ENABLED=0", "GOOS=linux"), "go", "build", "-trimpath", "-ldflags=-s -w", "-o", hello, "./internal/builds/builder/buildertest/hello")
	benchstat.Check(os.WriteFile(filepath.Join(repo, "Dockerfile"), []byte(dockerfile), 0o644))
	commit := func(i int) {
		benchstat.Check(os.WriteFile(filepath.Join(repo, "payload"), randomBytes(*payload), 0o644))
		run(repo, nil, "git", "add", "-A")
		run(repo, nil, "git", "-c", "user.name=Bench", "-c", "user.email=bench@example.com", "commit", "-q", "-m", fmt.Sprintf("run %d", i))
	}
	commit(0)

	st, err := store.Open(ctx, "", filepath.Join(base, "data"))
	benchstat.Check(err)
	defer func() { _ = st.Close() }() // best-effort cleanup
	actx := spacepods.WithActor(ctx, &spacepods.Token{Name: "bench", Role: spacepods.RoleAdmin})
	_, _, err = st.PutApp(actx, spacepods.App{Name: repoName, Repo: "bench/app", Kind: spacepods.KindWorker, Build: &spacepods.BuildSource{Git: "file://" + repo}})
	benchstat.Check(err)
	b, err := builder.New(builder.Config{
		Store: st, Docker: dc, Registry: builds.Registry{Host: *regHost}, DataDir: filepath.Join(base, "data"),
		Logger: slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn})),
	})
	benchstat.Check(err)
	bctx, cancel := context.WithCancel(ctx)
	defer func() { cancel(); b.Wait() }()
	benchstat.Check(b.Start(bctx))

	builderRun := func() time.Duration {
		j, err := b.Run(actx, repoName, spacepods.RunBuildRequest{})
		benchstat.Check(err)
		for !j.Done() {
			time.Sleep(10 * time.Millisecond)
			j, err = b.Job(ctx, j.ID, false)
			benchstat.Check(err)
		}
		if j.Status != spacepods.JobSucceeded {
			j, _ = b.Job(ctx, j.ID, true)
			log.Fatalf("builder job %d %s: %s\n%s", j.ID, j.Status, j.Error, j.Log)
		}
		if *verbose {
			j, _ = b.Job(ctx, j.ID, true)
			for _, line := range strings.Split(j.Log, "\n") {
				if strings.Contains(line, " in ") && strings.HasSuffix(line, "s") {
					fmt.Fprintf(os.Stderr, "  job %d: %s\n", j.ID, line)
				}
			}
		}
		return j.FinishedAt.Sub(*j.StartedAt)
	}
	// The baseline builds the same files (Dockerfile, binary, a fresh
	// payload of the same size) from a plain directory. It commits nothing,
	// so that every builder run fetches exactly one new commit.
	baselineRun := func(i int) time.Duration {
		dir := filepath.Join(base, fmt.Sprintf("plain-%d", i))
		benchstat.Check(os.MkdirAll(dir, 0o755))
		for _, f := range []string{"Dockerfile", "hello"} {
			data, err := os.ReadFile(filepath.Join(repo, f))
			benchstat.Check(err)
			benchstat.Check(os.WriteFile(filepath.Join(dir, f), data, 0o755))
		}
		benchstat.Check(os.WriteFile(filepath.Join(dir, "payload"), randomBytes(*payload), 0o644))
		tag := fmt.Sprintf("%s/%s:plain-%d", *regHost, repoName, i)
		env := append(os.Environ(), "DOCKER_BUILDKIT=0") // the Engine's builder, as the API's
		start := time.Now()
		run(dir, env, "docker", "build", "-q", "-t", tag, ".")
		run(dir, env, "docker", "push", "-q", tag)
		return time.Since(start)
	}

	var bs, ps []time.Duration
	fmt.Printf("%-4s %12s %12s\n", "run", "builder", "docker CLI")
	for i := 0; i <= *runs; i++ {
		var bd, pd time.Duration
		if i%2 == 0 {
			commit(i + 1)
			bd = builderRun()
			pd = baselineRun(i)
		} else {
			pd = baselineRun(i)
			commit(i + 1)
			bd = builderRun()
		}
		label := fmt.Sprint(i)
		if i == 0 {
			label = "warm" // caches (the hello layer, the git clone) warm up; not counted
		} else {
			bs, ps = append(bs, bd), append(ps, pd)
		}
		fmt.Printf("%-4s %10.0fms %10.0fms\n", label, benchstat.Ms(bd), benchstat.Ms(pd))
	}
	mb, mp := benchstat.Median(bs), benchstat.Median(ps)
	ratio := benchstat.Ms(mb) / benchstat.Ms(mp)
	fmt.Printf("median %8.0fms %10.0fms\nbuilder / docker build+push: %.2f× (target ≤ 1.2×)\n", benchstat.Ms(mb), benchstat.Ms(mp), ratio)
	out, _ := json.Marshal(map[string]any{"bench": "builderbench", "runs": *runs, "payload_bytes": *payload,
		"builder_median_ms": benchstat.Ms(mb), "docker_cli_median_ms": benchstat.Ms(mp), "ratio": ratio})
	fmt.Println(string(out))
}

// startRegistry starts docker-registry on a free loopback port with its
// storage under base, sets *host, and returns how to stop it.
func startRegistry(base string, host *string) func() {
	bin, err := exec.LookPath("docker-registry")
	if err != nil {
		log.Fatal("docker-registry is not installed (apt-get install docker-registry), or pass -registry HOST:PORT")
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	benchstat.Check(err)
	*host = l.Addr().String()
	_ = l.Close() // the registry takes the port next
	cfg := fmt.Sprintf("version: 0.1\nlog:\n  level: error\n  accesslog:\n    disabled: true\nstorage:\n  filesystem:\n    rootdirectory: %s\nhttp:\n  addr: %s\n", filepath.Join(base, "registry"), *host)
	path := filepath.Join(base, "registry.yml")
	benchstat.Check(os.WriteFile(path, []byte(cfg), 0o600))
	cmd := exec.Command(bin, "serve", path)
	benchstat.Check(cmd.Start())
	for deadline := time.Now().Add(15 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		resp, err := http.Get("http://" + *host + "/v2/")
		if err == nil {
			_ = resp.Body.Close()
			break
		}
		if time.Now().After(deadline) {
			log.Fatalf("docker-registry on %s did not answer: %v", *host, err)
		}
	}
	return func() { _ = cmd.Process.Kill(); _ = cmd.Wait() }
}

// removeImages removes the images tagged repo:* from the Docker host.
func removeImages(ctx context.Context, dc *client.Client, repo string) {
	imgs, err := dc.ImageList(ctx, image.ListOptions{})
	if err != nil {
		return
	}
	for _, img := range imgs {
		for _, tag := range img.RepoTags {
			if strings.HasPrefix(tag, repo+":") {
				_, _ = dc.ImageRemove(ctx, tag, image.RemoveOptions{PruneChildren: true}) // best-effort cleanup
			}
		}
	}
}

func run(dir string, env []string, name string, args ...string) {
	cmd := exec.Command(name, args...)
	cmd.Dir, cmd.Env = dir, env
	if out, err := cmd.CombinedOutput(); err != nil {
		log.Fatalf("%s %s: %v\n%s", name, strings.Join(args, " "), err, out)
	}
}

func randomBytes(n int) []byte {
	b := make([]byte, n)
	_, _ = rand.Read(b) // crypto/rand never fails on Linux
	return b
}

func randomHex(n int) string { return fmt.Sprintf("%x", randomBytes(n)) }
