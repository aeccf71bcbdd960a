// Command cpbench measures control-plane scale on SQLite and PostgreSQL in
// one run: 10,000 apps with random dependency edges (no cycles) and 100,000
// builds, then p50/p99 of list apps, show app, latest build and the
// dependency closure of a 1,000-app subgraph, and the server's peak RSS.
//
//	go run ./bench/cpbench [-postgres URL] [-apps 10000] [-builds 100000]
//
// The server runs as its own process (the real `spacepods server` binary);
// the store is filled through the store package beforehand.
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"math/rand"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/spacepods/spacepods/internal/catalog"
	"github.com/spacepods/spacepods/internal/spacepods"
	"github.com/spacepods/spacepods/internal/store"
)

func main() {
	pg := flag.String("postgres", os.Getenv("SPACEPODS_TEST_POSTGRES"), "admin URL of a PostgreSQL server (a fresh database is created on it); empty = SQLite only")
	nApps := flag.Int("apps", 10000, "apps")
	nBuilds := flag.Int("builds", 100000, "builds")
	samples := flag.Int("n", 500, "requests per measured operation")
	flag.Parse()

	tmp, err := os.MkdirTemp("", "cpbench")
	check(err)
	defer func() { _ = os.RemoveAll(tmp) }() // best-effort cleanup; nothing useful to do on failure
	bin := filepath.Join(tmp, "spacepods")
	build := exec.Command("go", "build", "-o", bin, "./cmd/spacepods")
	build.Env = append(os.Environ(), "CGO_ENABLED=0")
	build.Stderr = os.Stderr
	check(build.Run())

	fmt.Printf("control-plane benchmark: %d apps, %d builds, %d samples per operation\n", *nApps, *nBuilds, *samples)
	fmt.Printf("targets: list/show/latest p99 <= 50 ms, closure <= 5 ms, server peak RSS <= 150 MB\n\n")
	fmt.Printf("%-9s %-28s %10s %10s\n", "store", "operation", "p50", "p99")
	run(bin, filepath.Join(tmp, "sqlite"), "", *nApps, *nBuilds, *samples)
	if *pg != "" {
		u := createDatabase(*pg)
		run(bin, filepath.Join(tmp, "pg"), u, *nApps, *nBuilds, *samples)
	} else {
		fmt.Println("postgres  skipped: pass -postgres URL (scripts/test.sh's server, or any admin URL)")
	}
}

func run(bin, dataDir, dbURL string, nApps, nBuilds, samples int) {
	ctx := spacepods.WithActor(context.Background(), &spacepods.Token{Name: "bench", Role: spacepods.RoleAdmin})
	st, err := store.Open(ctx, dbURL, dataDir)
	check(err)
	name := st.Dialect()
	rng := rand.New(rand.NewSource(1))
	start := time.Now()
	apps := make([]string, nApps)
	deps := map[string][]string{}
	for i := range apps {
		apps[i] = fmt.Sprintf("app-%05d", i)
		// Edges only to lower-numbered apps of the same block of 1,000: a
		// DAG made of 1,000-app subgraphs.
		var ds []string
		block := i / 1000 * 1000
		for k := 0; k < rng.Intn(4) && i > block; k++ {
			d := apps[block+rng.Intn(i-block)]
			if !contains(ds, d) {
				ds = append(ds, d)
			}
		}
		deps[apps[i]] = ds
		app := spacepods.App{Name: apps[i], Repo: "acme/" + apps[i], Kind: spacepods.KindWeb, Port: 8080, Health: "/healthz", Dependencies: ds,
			Env: map[string]string{"LOG_LEVEL": "info"}, Rollout: spacepods.Rollout{Stages: []int{25, 50, 100}, Replicas: map[string]int{"default": 1, "production": 4}}}
		_, _, err := st.PutApp(ctx, app)
		check(err)
	}
	appsDone := time.Since(start)
	var batch []spacepods.Build
	for i := 0; i < nBuilds; i++ {
		app := apps[i%nApps]
		branch := "main"
		if i%3 == 0 {
			branch = "feature-x"
		}
		batch = append(batch, spacepods.Build{App: app, Number: i/nApps + 1, GitSHA: fmt.Sprintf("%07x", i), Branch: branch, Image: "acme/" + app + ":" + strconv.Itoa(i)})
		if len(batch) == 10000 {
			check(st.ImportBuilds(ctx, batch))
			batch = batch[:0]
		}
	}
	if len(batch) > 0 {
		check(st.ImportBuilds(ctx, batch))
	}
	fmt.Printf("%-9s %-28s %10s (apps %s, builds %s)\n", name, "fill", time.Since(start).Round(time.Millisecond), appsDone.Round(time.Millisecond), (time.Since(start) - appsDone).Round(time.Millisecond))

	// Closure of a 1,000-app subgraph, in process (the server holds the
	// same cached graph).
	svc := catalog.NewService(st)
	var roots []string
	for i := 0; i < 1000; i++ {
		roots = append(roots, apps[5000+i])
	}
	var closure []time.Duration
	size := 0
	for i := 0; i < samples; i++ {
		t := time.Now()
		out, err := svc.Closure(ctx, roots)
		check(err)
		closure = append(closure, time.Since(t))
		size = len(out)
	}
	st.Close()

	// The server as its own process.
	port := freePort()
	addr := "127.0.0.1:" + strconv.Itoa(port)
	cmd := exec.Command(bin, "server", "--data-dir", dataDir, "--listen", addr, "--database-url", dbURL, "--log-level", "warn", "--runtime", "none")
	cmd.Stderr = os.Stderr
	check(cmd.Start())
	defer func() { _ = cmd.Process.Kill(); _ = cmd.Wait() }() // best-effort cleanup; nothing useful to do on failure
	base := "http://" + addr
	waitHealthy(base)
	tok, err := os.ReadFile(filepath.Join(dataDir, "admin.token"))
	check(err)
	token := strings.TrimSpace(string(tok))
	get := func(path string) time.Duration {
		req, _ := http.NewRequest("GET", base+path, nil)
		req.Header.Set("Authorization", "Bearer "+token)
		t := time.Now()
		resp, err := http.DefaultClient.Do(req)
		check(err)
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		d := time.Since(t)
		if resp.StatusCode != 200 {
			fail(fmt.Errorf("GET %s: %d", path, resp.StatusCode))
		}
		return d
	}
	measure := func(label string, path func() string) {
		get(path()) // warm up
		var ds []time.Duration
		for i := 0; i < samples; i++ {
			ds = append(ds, get(path()))
		}
		p50, p99 := pct(ds)
		fmt.Printf("%-9s %-28s %10s %10s\n", name, label, p50, p99)
	}
	measure("list apps (page of 100)", func() string { return "/api/v1/apps?after=" + url.QueryEscape(apps[rng.Intn(nApps)]) })
	measure("show app", func() string { return "/api/v1/apps/" + apps[rng.Intn(nApps)] })
	measure("latest build (main)", func() string { return "/api/v1/apps/" + apps[rng.Intn(nApps)] + "/builds/latest" })
	measure("deps tree (API, top of block)", func() string { return "/api/v1/apps/" + apps[rng.Intn(10)*1000+999] + "/deps" })
	p50, p99 := pct(closure)
	fmt.Printf("%-9s %-28s %10s %10s (closure of %d apps)\n", name, "closure 1,000-app subgraph", p50, p99, size)
	fmt.Printf("%-9s %-28s %10s\n", name, "server peak RSS", peakRSS(cmd.Process.Pid))
}

func pct(ds []time.Duration) (time.Duration, time.Duration) {
	sort.Slice(ds, func(i, j int) bool { return ds[i] < ds[j] })
	r := func(d time.Duration) time.Duration { return d.Round(10 * time.Microsecond) }
	return r(ds[len(ds)/2]), r(ds[len(ds)*99/100])
}

func peakRSS(pid int) string {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	check(err)
	for _, l := range strings.Split(string(b), "\n") {
		if strings.HasPrefix(l, "VmHWM:") {
			f := strings.Fields(l)
			kb, _ := strconv.Atoi(f[1])
			return fmt.Sprintf("%.1f MB", float64(kb)/1024)
		}
	}
	return "?"
}

func createDatabase(admin string) string {
	st, err := store.Open(context.Background(), admin, "")
	check(err)
	defer func() { _ = st.Close() }() // best-effort cleanup; nothing useful to do on failure
	name := fmt.Sprintf("spacepods_bench_%d", time.Now().Unix())
	_, err = st.DB().Exec("CREATE DATABASE " + name)
	check(err)
	u, err := url.Parse(admin)
	check(err)
	u.Path = "/" + name
	return u.String()
}

func waitHealthy(base string) {
	for i := 0; i < 300; i++ {
		if resp, err := http.Get(base + "/healthz"); err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 {
				return
			}
		}
		time.Sleep(100 * time.Millisecond)
	}
	fail(fmt.Errorf("server at %s did not become healthy", base))
}

func freePort() int {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	check(err)
	defer func() { _ = l.Close() }() // best-effort cleanup; nothing useful to do on failure
	return l.Addr().(*net.TCPAddr).Port
}

func contains(s []string, v string) bool {
	for _, x := range s {
		if x == v {
			return true
		}
	}
	return false
}

func check(err error) {
	if err != nil {
		fail(err)
	}
}

func fail(err error) {
	fmt.Fprintln(os.Stderr, "cpbench:", err)
	os.Exit(1)
}
