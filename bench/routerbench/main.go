// Command routerbench measures the Spacepods edge router against a direct
// connection, nginx and Caddy, with one in-process load generator and the same
// settings for each: fixed concurrency, fixed duration, keep-alive.
//
//	go run ./bench/routerbench [-c 64] [-d 3s] [-rounds 3] [-warmup 1s] [-size 256]
//	    [-targets router-own,nginx,caddy] [-baseline OLD_ROUTERBENCH_BINARY] [-cpuprofile FILE]
//
// Targets, all on 127.0.0.1 and all in front of the same backend:
//
//	direct      the backend itself
//	router      router.Run inside this process, configured through router.Client
//	router-own  the same router.Run in a child process, as `spacepods router` runs
//	nginx       if on PATH: a child process with a generated config
//	caddy       if on PATH: a child process with a generated Caddyfile
//	router-base with -baseline: router-own as served by another build of this
//	            program (e.g. one built from an older commit), for a before/after
//	            comparison in the same run
//
// Targets take turns within each round, each round starting one target later
// than the last, and the median round counts, so that other load on the
// machine hits all of them alike. Ratios are also given as the median of the
// per-round ratios: both targets of a pair measured minutes apart see
// different loads, in the same round they see nearly the same. For proxies in their own
// process the CPU time they used per request is measured too (from /proc),
// which other load on the machine barely disturbs. Children are stopped by
// their PID. The last line of output is a JSON summary for machines.
package main

import (
	"bufio"
	"bytes"
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/spacepods/spacepods/internal/router"
)

// result is one measurement of one target.
type result struct {
	Name       string  `json:"name"`
	Skipped    string  `json:"skipped,omitempty"`
	Requests   int     `json:"requests"`
	Errors     int     `json:"errors"`
	RPS        float64 `json:"rps"`
	P50ms      float64 `json:"p50_ms"`
	P99ms      float64 `json:"p99_ms"`
	CPUusPerRq float64 `json:"cpu_us_per_req,omitempty"` // proxy process CPU time per request
	// BenchCPUus is this process's CPU time per request: the load generator
	// and the backend (and the router, for target router).
	BenchCPUus float64 `json:"bench_cpu_us_per_req,omitempty"`
}

// target is one way to reach the backend.
type target struct {
	name, addr, host string
	pgid             int // process group of a proxy in its own process; 0 if none
	stop             func()
	rounds           []result
}

func main() {
	conc := flag.Int("c", 64, "concurrent keep-alive clients")
	dur := flag.Duration("d", 3*time.Second, "measured duration per target and round (at most 10s)")
	warmup := flag.Duration("warmup", time.Second, "unmeasured load before each measurement")
	rounds := flag.Int("rounds", 3, "rounds; targets take turns in each round and the median round counts")
	size := flag.Int("size", 256, "response body size in bytes")
	cpuProfile := flag.String("cpuprofile", "", "write a CPU profile of the router-own process to this file")
	only := flag.String("targets", "", "comma-separated targets to measure (default: all)")
	baseline := flag.String("baseline", "", "another routerbench binary: adds target router-base, its router-own")
	clientKind := flag.String("client", "go", "load generator: go (net/http clients) or raw (a minimal HTTP/1.1 keep-alive client that costs far less CPU)")
	routerEnv := flag.String("router-env", "", "comma-separated KEY=VALUE added to the environment of router-own and router-base (e.g. GOMAXPROCS=1)")
	serveRouter := flag.String("serve-router", "", "internal: only run a router with this data dir (the router-own target)")
	flag.Parse()
	signal.Ignore(syscall.SIGPIPE) // a closed stdout must not kill us before we stop our children

	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, os.Interrupt)
	defer stop()
	if *serveRouter != "" {
		router.TuneProcess() // as `spacepods router` does
		if *cpuProfile != "" {
			stopProfile, err := router.StartCPUProfile(*cpuProfile)
			if err != nil {
				fmt.Fprintln(os.Stderr, "routerbench router:", err)
				os.Exit(1)
			}
			defer stopProfile()
		}
		logger := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
		err := router.Run(ctx, router.Config{Listen: "127.0.0.1:0", ControlListen: "127.0.0.1:0", DataDir: *serveRouter, Logger: logger})
		if err != nil {
			fmt.Fprintln(os.Stderr, "routerbench router:", err)
		}
		return
	}
	*dur = min(*dur, 10*time.Second)
	want := func(name string) bool {
		return *only == "" || slices.Contains(strings.Split(*only, ","), name)
	}
	if *clientKind != "go" && *clientKind != "raw" {
		fmt.Fprintln(os.Stderr, "routerbench: -client is go or raw")
		os.Exit(2)
	}
	rawClient = *clientKind == "raw"
	if *routerEnv != "" {
		childEnv = strings.Split(*routerEnv, ",")
	}
	if err := run(ctx, *conc, *rounds, *dur, *warmup, *size, *cpuProfile, *baseline, want); err != nil {
		fmt.Fprintln(os.Stderr, "routerbench:", err)
		os.Exit(1)
	}
}

// Set from flags before run.
var (
	rawClient bool     // -client raw
	childEnv  []string // -router-env
)

func run(ctx context.Context, conc, rounds int, dur, warmup time.Duration, size int, cpuProfile, baseline string, want func(string) bool) error {
	tmp, err := os.MkdirTemp("", "routerbench-")
	if err != nil {
		return err
	}
	defer func() { _ = os.RemoveAll(tmp) }() // best-effort cleanup; nothing useful to do on failure

	backendAddr, stopBackend, err := startBackend(size)
	if err != nil {
		return err
	}
	defer stopBackend()

	client := "go (net/http)"
	if rawClient {
		client = "raw"
	}
	fmt.Printf("routerbench: %d keep-alive clients (%s), %d rounds of %s per target (after %s warm-up each), %d-byte responses, GOMAXPROCS=%d, %d CPUs\n\n",
		conc, client, rounds, dur, warmup, size, runtime.GOMAXPROCS(0), runtime.NumCPU())

	var targets []*target
	var skipped []result
	defer func() {
		for _, t := range targets {
			t.stop()
		}
	}()
	if want("direct") {
		targets = append(targets, &target{name: "direct", addr: backendAddr, stop: func() {}})
	}
	if want("router") {
		addr, stop, err := startRouterInProcess(filepath.Join(tmp, "router"), backendAddr)
		if err != nil {
			return fmt.Errorf("start router: %w", err)
		}
		targets = append(targets, &target{name: "router", addr: addr, host: "web.bench.localhost", stop: stop})
	}
	self, err := os.Executable()
	if err != nil {
		return err
	}
	for _, p := range []struct{ name, bin, profile string }{{"router-own", self, cpuProfile}, {"router-base", baseline, ""}} {
		if p.bin == "" || !want(p.name) {
			continue
		}
		addr, pgid, stop, err := startRouterProcess(p.bin, filepath.Join(tmp, p.name), backendAddr, p.profile)
		if err != nil {
			return fmt.Errorf("start %s: %w", p.name, err)
		}
		targets = append(targets, &target{name: p.name, addr: addr, host: "web.bench.localhost", pgid: pgid, stop: stop})
	}
	for _, p := range []struct {
		name, hint string
		start      func(dir, backend string) (string, int, func(), error)
	}{
		{"nginx", "apt-get install nginx", startNginx},
		{"caddy", "apt-get install caddy", startCaddy},
	} {
		if !want(p.name) {
			continue
		}
		if _, err := exec.LookPath(p.name); err != nil {
			fmt.Printf("%s: not installed (%s)\n", p.name, p.hint)
			skipped = append(skipped, result{Name: p.name, Skipped: "not installed"})
			continue
		}
		addr, pgid, stop, err := p.start(filepath.Join(tmp, p.name), backendAddr)
		if err != nil {
			fmt.Printf("%s: could not start: %v\n", p.name, err)
			skipped = append(skipped, result{Name: p.name, Skipped: err.Error()})
			continue
		}
		targets = append(targets, &target{name: p.name, addr: addr, pgid: pgid, stop: stop})
	}

	for r := 1; r <= rounds; r++ {
		fmt.Printf("round %d/%d\n", r, rounds)
		printHeader()
		for i := range targets {
			t := targets[(i+r-1)%len(targets)] // each round starts one target later
			if ctx.Err() != nil {
				return ctx.Err()
			}
			res := load(t, conc, dur, warmup)
			t.rounds = append(t.rounds, res)
			printRow(res)
		}
		fmt.Println()
	}
	byTarget := map[string]*target{}
	for _, t := range targets {
		byTarget[t.name] = t
	}

	fmt.Printf("median round of %d\n", rounds)
	printHeader()
	byName := map[string]result{}
	var results []result
	for _, t := range targets {
		m := median(t.rounds)
		byName[t.name] = m
		results = append(results, m)
		printRow(m)
	}
	results = append(results, skipped...)
	summary := map[string]any{"concurrency": conc, "rounds": rounds, "duration_s": dur.Seconds(), "body_bytes": size, "results": results}
	fmt.Println()
	ratio := func(a, b string) {
		ra, rb := byName[a], byName[b]
		if ra.RPS == 0 || rb.RPS == 0 {
			return
		}
		fmt.Printf("%-11s / %-6s  throughput %.2f×   p50 %.2f×   p99 %.2f×", a, b, ra.RPS/rb.RPS, ra.P50ms/rb.P50ms, ra.P99ms/rb.P99ms)
		key := strings.ReplaceAll(a, "-", "_") + "_over_" + b
		summary[key] = ra.RPS / rb.RPS
		if ra.CPUusPerRq > 0 && rb.CPUusPerRq > 0 {
			fmt.Printf("   CPU per request %.2f×", ra.CPUusPerRq/rb.CPUusPerRq)
			summary[key+"_cpu_per_req"] = ra.CPUusPerRq / rb.CPUusPerRq
		}
		fmt.Println()
	}
	pairs := [][2]string{}
	for _, a := range []string{"router", "router-own", "router-base"} {
		for _, b := range []string{"direct", "nginx", "caddy", "router-base"} {
			if a != b && byTarget[a] != nil && byTarget[b] != nil {
				pairs = append(pairs, [2]string{a, b})
			}
		}
	}
	fmt.Println("ratios of the median rounds")
	for _, p := range pairs {
		ratio(p[0], p[1])
	}
	fmt.Printf("\nmedian of the %d same-round ratios\n", rounds)
	for _, p := range pairs {
		sameRound(summary, p[0], byTarget[p[0]].rounds, p[1], byTarget[p[1]].rounds)
	}
	out, _ := json.Marshal(summary)
	fmt.Printf("RESULT %s\n", out)
	return nil
}

// sameRound prints the median, over rounds, of a's figures divided by b's
// in the same round.
func sameRound(summary map[string]any, a string, ra []result, b string, rb []result) {
	var tput, p50, p99, cpu []float64
	for i := range min(len(ra), len(rb)) {
		x, y := ra[i], rb[i]
		if x.RPS == 0 || y.RPS == 0 {
			continue
		}
		tput = append(tput, x.RPS/y.RPS)
		p50 = append(p50, x.P50ms/y.P50ms)
		p99 = append(p99, x.P99ms/y.P99ms)
		if x.CPUusPerRq > 0 && y.CPUusPerRq > 0 {
			cpu = append(cpu, x.CPUusPerRq/y.CPUusPerRq)
		}
	}
	if len(tput) == 0 {
		return
	}
	fmt.Printf("%-11s / %-11s  throughput %.2f×   p50 %.2f×   p99 %.2f×", a, b, medianOf(tput), medianOf(p50), medianOf(p99))
	key := strings.ReplaceAll(a, "-", "_") + "_over_" + strings.ReplaceAll(b, "-", "_") + "_same_round"
	summary[key] = medianOf(tput)
	summary[key+"_p99"] = medianOf(p99)
	if len(cpu) > 0 {
		fmt.Printf("   CPU per request %.2f×", medianOf(cpu))
		summary[key+"_cpu_per_req"] = medianOf(cpu)
	}
	fmt.Println()
}

func medianOf(xs []float64) float64 {
	s := slices.Clone(xs)
	slices.Sort(s)
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}

// median returns the round with the median throughput.
func median(rs []result) result {
	s := slices.Clone(rs)
	slices.SortFunc(s, func(a, b result) int { return cmp.Compare(a.RPS, b.RPS) })
	return s[len(s)/2]
}

func printHeader() {
	fmt.Printf("%-11s %9s %9s %9s %9s %7s %12s %14s\n", "target", "req/s", "p50 ms", "p99 ms", "requests", "errors", "cpu µs/req", "bench µs/req")
}

func printRow(r result) {
	cpu := "-"
	if r.CPUusPerRq > 0 {
		cpu = fmt.Sprintf("%.1f", r.CPUusPerRq)
	}
	fmt.Printf("%-11s %9.0f %9.2f %9.2f %9d %7d %12s %14.1f\n", r.Name, r.RPS, r.P50ms, r.P99ms, r.Requests, r.Errors, cpu, r.BenchCPUus)
}

// selfCPU is the CPU time this process has used so far.
func selfCPU() time.Duration {
	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru) // cannot fail for RUSAGE_SELF
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// load runs conc keep-alive clients against t for warmup, then measures for dur.
func load(t *target, conc int, dur, warmup time.Duration) result {
	var get func() (func() bool, func())
	if rawClient {
		get = rawGetter(t)
	} else {
		get = goGetter(t, conc)
	}

	start := time.Now()
	measureFrom := start.Add(warmup)
	end := measureFrom.Add(dur)
	type cpu struct{ group, self time.Duration }
	startCPU := make(chan cpu, 1)
	go func() {
		time.Sleep(time.Until(measureFrom))
		c := cpu{self: selfCPU()}
		if t.pgid != 0 {
			c.group = groupCPU(t.pgid)
		}
		startCPU <- c
	}()

	var mu sync.Mutex
	var all []time.Duration
	errs := 0
	var wg sync.WaitGroup
	for i := 0; i < conc; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			do, done := get()
			defer done()
			lat := make([]time.Duration, 0, 1<<16)
			e := 0
			for {
				t0 := time.Now()
				if t0.After(end) {
					break
				}
				ok := do()
				if t0.Before(measureFrom) {
					continue
				}
				if !ok {
					e++
					continue
				}
				lat = append(lat, time.Since(t0))
			}
			mu.Lock()
			all = append(all, lat...)
			errs += e
			mu.Unlock()
		}()
	}
	wg.Wait()
	endSelf := selfCPU()
	var endGroup time.Duration
	if t.pgid != 0 {
		endGroup = groupCPU(t.pgid)
	}
	c0 := <-startCPU
	slices.Sort(all)
	pct := func(p float64) float64 {
		if len(all) == 0 {
			return 0
		}
		return float64(all[int(float64(len(all)-1)*p)]) / float64(time.Millisecond)
	}
	res := result{Name: t.name, Requests: len(all), Errors: errs, RPS: float64(len(all)) / dur.Seconds(), P50ms: pct(0.50), P99ms: pct(0.99)}
	if len(all) > 0 {
		res.BenchCPUus = float64((endSelf-c0.self)/time.Microsecond) / float64(len(all))
		if t.pgid != 0 && endGroup > c0.group {
			res.CPUusPerRq = float64((endGroup-c0.group)/time.Microsecond) / float64(len(all))
		}
	}
	return res
}

// goGetter returns, per client, a function that sends one GET with a shared
// net/http client and reports whether a 200 came back whole.
func goGetter(t *target, conc int) func() (func() bool, func()) {
	tr := &http.Transport{
		Proxy:               nil,
		MaxIdleConns:        conc,
		MaxIdleConnsPerHost: conc,
		MaxConnsPerHost:     conc,
		DisableCompression:  true,
		IdleConnTimeout:     time.Minute,
	}
	client := &http.Client{Transport: tr, Timeout: 10 * time.Second}
	url := "http://" + t.addr + "/"
	var clients sync.WaitGroup
	return func() (func() bool, func()) {
		clients.Add(1)
		return func() bool {
				req, _ := http.NewRequest(http.MethodGet, url, nil)
				if t.host != "" {
					req.Host = t.host
				}
				resp, err := client.Do(req)
				ok := err == nil && resp.StatusCode == http.StatusOK
				if err == nil {
					_, err = io.Copy(io.Discard, resp.Body)
					resp.Body.Close()
					ok = ok && err == nil
				}
				return ok
			}, func() {
				clients.Done()
				tr.CloseIdleConnections()
			}
	}
}

// rawGetter returns, per client, a function that sends one GET on the
// client's own keep-alive connection and reads the answer with the least
// work: status line, Content-Length, body discarded. Any surprise (an error,
// another status, no Content-Length) counts as a failure; after a failure or
// a Connection: close the next request gets a new connection.
func rawGetter(t *target) func() (func() bool, func()) {
	host := t.host
	if host == "" {
		host = t.addr
	}
	request := []byte("GET / HTTP/1.1\r\nHost: " + host + "\r\nUser-Agent: routerbench\r\n\r\n")
	return func() (func() bool, func()) {
		var conn net.Conn
		var br *bufio.Reader
		drop := func() {
			if conn != nil {
				conn.Close()
				conn = nil
			}
		}
		do := func() bool {
			if conn == nil {
				c, err := net.DialTimeout("tcp", t.addr, 5*time.Second)
				if err != nil {
					return false
				}
				conn, br = c, bufio.NewReaderSize(c, 16<<10)
			}
			_ = conn.SetDeadline(time.Now().Add(10 * time.Second))
			if _, err := conn.Write(request); err != nil {
				drop()
				return false
			}
			ok, keep := readRawResponse(br)
			if !ok || !keep {
				drop()
			}
			return ok
		}
		return do, drop
	}
}

// readRawResponse reads one 200 answer with a Content-Length from br and
// reports whether the connection may be kept.
func readRawResponse(br *bufio.Reader) (ok, keep bool) {
	line, err := br.ReadSlice('\n')
	if err != nil || !bytes.HasPrefix(line, []byte("HTTP/1.1 200 ")) {
		return false, false
	}
	length, keep := -1, true
	for {
		line, err = br.ReadSlice('\n')
		if err != nil {
			return false, false
		}
		if len(line) <= 2 {
			break
		}
		k, v, ok := bytes.Cut(line, []byte(":"))
		if !ok {
			return false, false
		}
		v = bytes.TrimSpace(v)
		switch {
		case bytes.EqualFold(k, []byte("Content-Length")):
			length, err = strconv.Atoi(string(v))
			if err != nil {
				return false, false
			}
		case bytes.EqualFold(k, []byte("Connection")) && bytes.EqualFold(v, []byte("close")):
			keep = false
		}
	}
	if length < 0 {
		return false, false
	}
	if _, err := br.Discard(length); err != nil {
		return false, false
	}
	return true, keep
}

// groupCPU sums the user and system CPU time of every process in group pgid
// (nginx's master and workers), from /proc/<pid>/stat.
func groupCPU(pgid int) time.Duration {
	const ticksPerSecond = 100 // USER_HZ on Linux
	entries, _ := os.ReadDir("/proc")
	var ticks int64
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		data, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
		if err != nil {
			continue
		}
		// Fields after the command, which is in parentheses and may hold spaces.
		i := bytes.LastIndexByte(data, ')')
		if i < 0 {
			continue
		}
		f := strings.Fields(string(data[i+1:]))
		// f[0] is field 3 (state): pgrp is field 5, utime 14, stime 15.
		if len(f) < 13 {
			continue
		}
		if g, _ := strconv.Atoi(f[2]); g != pgid {
			continue
		}
		u, _ := strconv.ParseInt(f[11], 10, 64)
		s, _ := strconv.ParseInt(f[12], 10, 64)
		ticks += u + s
	}
	return time.Duration(ticks) * time.Second / ticksPerSecond
}

// startBackend serves a fixed body on 127.0.0.1 (every path, /healthz included).
func startBackend(size int) (string, func(), error) {
	body := []byte(strings.Repeat("x", size))
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", nil, err
	}
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/plain")
		w.Header().Set("Content-Length", strconv.Itoa(len(body)))
		w.Write(body)
	})}
	go func() { _ = srv.Serve(ln) }() // returns when the listener is closed at shutdown
	return ln.Addr().String(), func() { srv.Close() }, nil
}

// startRouterInProcess runs the router in this process with router.Run and
// configures it through the control API client, as the control plane does.
func startRouterInProcess(dir, backend string) (string, func(), error) {
	ctx, cancel := context.WithCancel(context.Background())
	exited := make(chan struct{})
	logger := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	go func() {
		if err := router.Run(ctx, router.Config{Listen: "127.0.0.1:0", ControlListen: "127.0.0.1:0", DataDir: dir, Logger: logger}); err != nil {
			fmt.Fprintln(os.Stderr, "routerbench: in-process router:", err)
		}
		close(exited)
	}()
	stop := func() {
		cancel()
		<-exited
	}
	addr, err := configureRouter(dir, backend, exited)
	if err != nil {
		stop()
		return "", nil, err
	}
	return addr, stop, nil
}

// startRouterProcess runs router.Run in a child process (bin, a build of
// this program, with -serve-router) and configures it through the control
// API client.
func startRouterProcess(bin, dir, backend, cpuProfile string) (string, int, func(), error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return "", 0, nil, err
	}
	args := []string{"-serve-router", dir}
	if cpuProfile != "" {
		args = append(args, "-cpuprofile", cpuProfile)
	}
	cmd := exec.Command(bin, args...)
	cmd.Env = append(os.Environ(), childEnv...)
	ch, err := startChild(cmd, dir, syscall.SIGTERM)
	if err != nil {
		return "", 0, nil, err
	}
	addr, err := configureRouter(dir, backend, ch.exited)
	if err != nil {
		ch.stop()
		return "", 0, nil, err
	}
	return addr, ch.pid, ch.stop, nil
}

// configureRouter waits for the router of dir to answer, points group
// bench/web at backend, waits until the target is healthy and returns the
// router's proxy address.
func configureRouter(dir, backend string, exited <-chan struct{}) (string, error) {
	var client *router.Client
	deadline := time.Now().Add(10 * time.Second)
	for {
		var ok bool
		if client, ok = router.Adopt(dir, ""); ok {
			break
		}
		select {
		case <-exited:
			return "", errors.New("router exited at start")
		case <-time.After(20 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			return "", errors.New("router did not answer within 10s")
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	spec := router.GroupSpec{HealthPath: "/healthz", Targets: []router.TargetSpec{{Addr: backend, Weight: 1}}}
	if err := client.SetGroup(ctx, "bench", "web", spec); err != nil {
		return "", err
	}
	if err := client.WaitHealthy(ctx, "bench", "web", backend); err != nil {
		return "", err
	}
	info, err := client.Info(ctx)
	if err != nil {
		return "", err
	}
	return info.Listen, nil
}

func freePort() (int, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer func() { _ = ln.Close() }() // best-effort cleanup; nothing useful to do on failure
	return ln.Addr().(*net.TCPAddr).Port, nil
}

const nginxConf = `worker_processes %d;
daemon off;
master_process on;
pid %[2]s/nginx.pid;
error_log %[2]s/error.log warn;
events { worker_connections 4096; }
http {
    access_log off;
    client_body_temp_path %[2]s/client_body;
    proxy_temp_path %[2]s/proxy;
    fastcgi_temp_path %[2]s/fastcgi;
    uwsgi_temp_path %[2]s/uwsgi;
    scgi_temp_path %[2]s/scgi;
    upstream backend {
        server %[3]s;
        keepalive 256;
        keepalive_requests 1000000;
    }
    server {
        listen 127.0.0.1:%[4]d;
        keepalive_requests 1000000;
        location / {
            proxy_pass http://backend;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
            proxy_set_header Host $host;
        }
    }
}
`

// startNginx runs nginx in the foreground (daemon off) as our child, one
// worker per CPU, with keep-alive connections to the backend.
func startNginx(dir, backend string) (string, int, func(), error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", 0, nil, err
	}
	port, err := freePort()
	if err != nil {
		return "", 0, nil, err
	}
	conf := filepath.Join(dir, "nginx.conf")
	if err := os.WriteFile(conf, fmt.Appendf(nil, nginxConf, runtime.NumCPU(), dir, backend, port), 0o644); err != nil {
		return "", 0, nil, err
	}
	ch, err := startChild(exec.Command("nginx", "-p", dir, "-c", conf, "-e", filepath.Join(dir, "error.log")), dir, syscall.SIGQUIT)
	if err != nil {
		return "", 0, nil, err
	}
	return ch.waitListen(port)
}

const caddyfile = `{
	admin off
	auto_https off
}
http://:%d {
	bind 127.0.0.1
	reverse_proxy %s
}
`

// startCaddy runs caddy as our child with a generated Caddyfile; its state
// directories point into dir so nothing outside it is written.
func startCaddy(dir, backend string) (string, int, func(), error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", 0, nil, err
	}
	port, err := freePort()
	if err != nil {
		return "", 0, nil, err
	}
	conf := filepath.Join(dir, "Caddyfile")
	if err := os.WriteFile(conf, fmt.Appendf(nil, caddyfile, port, backend), 0o644); err != nil {
		return "", 0, nil, err
	}
	cmd := exec.Command("caddy", "run", "--config", conf, "--adapter", "caddyfile")
	cmd.Env = append(os.Environ(), "HOME="+dir, "XDG_CONFIG_HOME="+dir, "XDG_DATA_HOME="+dir)
	ch, err := startChild(cmd, dir, syscall.SIGTERM)
	if err != nil {
		return "", 0, nil, err
	}
	return ch.waitListen(port)
}

// child is a process we started, in its own process group.
type child struct {
	pid    int
	dir    string
	exited chan struct{}
	stop   func()
}

// startChild starts cmd in its own process group (so its CPU time can be
// summed and its workers stopped with it), with output in dir/output.log.
// The child gets stopSig if this process dies first.
func startChild(cmd *exec.Cmd, dir string, stopSig syscall.Signal) (*child, error) {
	logf, err := os.Create(filepath.Join(dir, "output.log"))
	if err != nil {
		return nil, err
	}
	cmd.Stdout, cmd.Stderr = logf, logf
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: stopSig}
	if err := cmd.Start(); err != nil {
		logf.Close()
		return nil, err
	}
	c := &child{pid: cmd.Process.Pid, dir: dir, exited: make(chan struct{})}
	go func() { _ = cmd.Wait(); _ = logf.Close(); close(c.exited) }() // the exit status is not needed; logf is only closed
	c.stop = func() {
		cmd.Process.Signal(stopSig)
		select {
		case <-c.exited:
		case <-time.After(5 * time.Second):
			syscall.Kill(-c.pid, syscall.SIGKILL) // the child's own group: it and its workers
			<-c.exited
		}
	}
	return c, nil
}

// waitListen waits until the child accepts connections on port.
func (c *child) waitListen(port int) (string, int, func(), error) {
	addr := fmt.Sprintf("127.0.0.1:%d", port)
	deadline := time.Now().Add(10 * time.Second)
	for {
		if conn, err := net.DialTimeout("tcp", addr, 200*time.Millisecond); err == nil {
			conn.Close()
			return addr, c.pid, c.stop, nil
		}
		select {
		case <-c.exited:
			out, _ := os.ReadFile(filepath.Join(c.dir, "output.log"))
			return "", 0, nil, fmt.Errorf("exited at start: %s", strings.TrimSpace(string(out)))
		case <-time.After(20 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			c.stop()
			return "", 0, nil, errors.New("did not listen within 10s")
		}
	}
}
