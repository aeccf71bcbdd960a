// Command hookbench measures the forge webhook endpoint of the real
// `spacepods server` binary (its own process, --runtime none, --forge gitea
// with a webhook secret): how fast POST /api/v1/hooks/forge answers (the
// delivery is verified and stored before the answer), against a baseline
// measured in the same run (an authenticated GET /api/v1/whoami, one store
// read), and how long a delivery takes from the request to "done" in the
// delivery log (the background worker: parse, find the apps of the repo,
// run the handlers, record the result).
//
//	go run ./bench/hookbench [-n 300] [-postgres URL]
package main

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/spacepods/spacepods/internal/forge"
	"github.com/spacepods/spacepods/internal/spacepods"
)

const secret = "hookbench-secret"

func main() {
	pg := flag.String("postgres", os.Getenv("SPACEPODS_TEST_POSTGRES"), "admin URL of a PostgreSQL server (a fresh database is made on it); empty = SQLite only")
	n := flag.Int("n", 300, "requests per measured operation")
	flag.Parse()
	tmp, err := os.MkdirTemp("", "hookbench")
	check(err)
	defer func() { _ = os.RemoveAll(tmp) }() // best-effort cleanup; nothing useful to do on failure
	bin := filepath.Join(tmp, "spacepods")
	build := exec.Command("go", "build", "-o", bin, "./cmd/spacepods")
	build.Env = append(os.Environ(), "CGO_ENABLED=0")
	build.Stderr = os.Stderr
	check(build.Run())
	fmt.Printf("forge webhook benchmark: %d samples per operation\n\n", *n)
	fmt.Printf("%-9s %-34s %10s %10s\n", "store", "operation", "p50", "p99")
	run(bin, filepath.Join(tmp, "sqlite"), "", *n)
	if *pg != "" {
		run(bin, filepath.Join(tmp, "pg"), createDatabase(*pg), *n)
	} else {
		fmt.Println("postgres  skipped: pass -postgres URL")
	}
}

func run(bin, dataDir, dbURL string, n int) {
	name := "sqlite"
	if dbURL != "" {
		name = "postgres"
	}
	addr := "127.0.0.1:" + strconv.Itoa(freePort())
	cmd := exec.Command(bin, "server", "--data-dir", dataDir, "--listen", addr, "--database-url", dbURL, "--log-level", "warn",
		"--runtime", "none", "--forge", "gitea", "--forge-url", "http://127.0.0.1:1")
	cmd.Env = append(os.Environ(), "SPACEPODS_FORGE_TOKEN=unused", "SPACEPODS_FORGE_WEBHOOK_SECRET="+secret)
	cmd.Stderr = os.Stderr
	check(cmd.Start())
	defer func() { _ = cmd.Process.Kill(); _ = cmd.Wait() }() // best-effort cleanup; nothing useful to do on failure
	base := "http://" + addr
	waitHealthy(base)
	tok, err := os.ReadFile(filepath.Join(dataDir, "admin.token"))
	check(err)
	token := strings.TrimSpace(string(tok))
	// One app names the repository, so each push reaches the handlers.
	manifest := "name: catalog-api\nrepo: acme/catalog-api\nkind: web\nport: 8080\n"
	body, _ := json.Marshal(spacepods.RegisterAppRequest{Manifest: manifest})
	req, _ := http.NewRequest("POST", base+"/api/v1/apps", bytes.NewReader(body))
	req.Header.Set("Authorization", "Bearer "+token)
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	check(err)
	_ = resp.Body.Close()

	whoami := func() time.Duration {
		req, _ := http.NewRequest("GET", base+"/api/v1/whoami", nil)
		req.Header.Set("Authorization", "Bearer "+token)
		t := time.Now()
		resp, err := http.DefaultClient.Do(req)
		check(err)
		_, _ = io.Copy(io.Discard, resp.Body)
		_ = resp.Body.Close()
		return time.Since(t)
	}
	seq := 0
	hook := func() (time.Duration, spacepods.ForgeDelivery) {
		seq++
		id := fmt.Sprintf("bench-%s-%d", name, seq)
		payload := fmt.Sprintf(`{"ref":"refs/heads/main","before":"%040d","after":"%040x","commits":[{"id":"%040x","message":"m","author":{"name":"a","email":"a@example.com"}}],"repository":{"full_name":"acme/catalog-api"},"sender":{"login":"alice"}}`, seq, seq, seq)
		req, _ := http.NewRequest("POST", base+"/api/v1/hooks/forge", strings.NewReader(payload))
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("X-Gitea-Delivery", id)
		req.Header.Set("X-Gitea-Event", "push")
		req.Header.Set("X-Hub-Signature-256", "sha256="+forge.Sign([]byte(secret), []byte(payload)))
		t := time.Now()
		resp, err := http.DefaultClient.Do(req)
		check(err)
		var d spacepods.ForgeDelivery
		check(json.NewDecoder(resp.Body).Decode(&d))
		_ = resp.Body.Close()
		took := time.Since(t)
		if resp.StatusCode != http.StatusAccepted || d.DeliveryID != id {
			fail(fmt.Errorf("POST /api/v1/hooks/forge: %d %+v", resp.StatusCode, d))
		}
		return took, d
	}
	delivery := func(id int64) spacepods.ForgeDelivery {
		req, _ := http.NewRequest("GET", base+"/api/v1/hooks/forge/deliveries/"+strconv.FormatInt(id, 10), nil)
		req.Header.Set("Authorization", "Bearer "+token)
		resp, err := http.DefaultClient.Do(req)
		check(err)
		defer func() { _ = resp.Body.Close() }()
		var d spacepods.ForgeDelivery
		check(json.NewDecoder(resp.Body).Decode(&d))
		return d
	}
	deliveries := func() map[string]spacepods.ForgeDelivery {
		req, _ := http.NewRequest("GET", base+"/api/v1/hooks/forge/deliveries?limit=500", nil)
		req.Header.Set("Authorization", "Bearer "+token)
		resp, err := http.DefaultClient.Do(req)
		check(err)
		defer func() { _ = resp.Body.Close() }()
		var ds []spacepods.ForgeDelivery
		check(json.NewDecoder(resp.Body).Decode(&ds))
		out := map[string]spacepods.ForgeDelivery{}
		for _, d := range ds {
			out[d.DeliveryID] = d
		}
		return out
	}

	whoami()
	hook() // warm up
	// Alternate the two, so that other load on the machine hits both alike.
	var base1, answer []time.Duration
	for i := 0; i < n; i++ {
		base1 = append(base1, whoami())
		d, _ := hook()
		answer = append(answer, d)
	}
	b50, b99 := pct(base1)
	a50, a99 := pct(answer)
	fmt.Printf("%-9s %-34s %10s %10s\n", name, "baseline GET /api/v1/whoami", b50, b99)
	fmt.Printf("%-9s %-34s %10s %10s   (%.1fx the baseline at p50)\n", name, "POST hooks/forge answered (stored)", a50, a99, float64(a50)/float64(b50))

	// Request → done, one delivery at a time (the worker is idle when it comes).
	var done []time.Duration
	for i := 0; i < min(n, 100); i++ {
		t := time.Now()
		_, sent := hook()
		for {
			if d := delivery(sent.ID); d.State != spacepods.DeliveryPending && d.State != spacepods.DeliveryProcessing {
				if d.State != spacepods.DeliveryDone {
					fail(fmt.Errorf("delivery %s: %s %s %s", d.DeliveryID, d.State, d.Result, d.Error))
				}
				break
			}
			time.Sleep(time.Millisecond)
		}
		done = append(done, time.Since(t))
	}
	d50, d99 := pct(done)
	fmt.Printf("%-9s %-34s %10s %10s   (polling the delivery every 1 ms)\n", name, "request -> done in the delivery log", d50, d99)

	// A burst: 200 deliveries as fast as one client sends them, then until
	// the worker has processed them all.
	t := time.Now()
	var ids []string
	for i := 0; i < 200; i++ {
		_, d := hook()
		ids = append(ids, d.DeliveryID)
	}
	sent := time.Since(t)
	for {
		ds, all := deliveries(), true
		for _, id := range ids {
			if d := ds[id]; d.State != spacepods.DeliveryDone {
				all = false
				break
			}
		}
		if all {
			break
		}
		time.Sleep(5 * time.Millisecond)
	}
	total := time.Since(t)
	fmt.Printf("%-9s %-34s %10s   (%.0f deliveries/s processed; sent in %s)\n", name, "burst of 200: all done", total.Round(time.Millisecond), 200/total.Seconds(), sent.Round(time.Millisecond))
}

func pct(ds []time.Duration) (time.Duration, time.Duration) {
	sort.Slice(ds, func(i, j int) bool { return ds[i] < ds[j] })
	r := func(d time.Duration) time.Duration { return d.Round(10 * time.Microsecond) }
	return r(ds[len(ds)/2]), r(ds[len(ds)*99/100])
}

func waitHealthy(base string) {
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		if resp, err := http.Get(base + "/healthz"); err == nil { //nolint:gosec // loopback benchmark server
			_ = resp.Body.Close()
			if resp.StatusCode == 200 {
				return
			}
		}
		time.Sleep(50 * time.Millisecond)
	}
	fail(fmt.Errorf("the server at %s did not become healthy", base))
}

func freePort() int {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	check(err)
	defer func() { _ = l.Close() }()
	return l.Addr().(*net.TCPAddr).Port
}

// createDatabase makes a fresh database on the admin URL's server and
// returns its URL.
func createDatabase(admin string) string {
	ctx := context.Background()
	c, err := pgx.Connect(ctx, admin)
	check(err)
	defer func() { _ = c.Close(ctx) }()
	name := fmt.Sprintf("hookbench_%d", time.Now().UnixNano())
	_, err = c.Exec(ctx, "CREATE DATABASE "+name)
	check(err)
	cfg := c.Config()
	return fmt.Sprintf("postgres://%s:%s@%s:%d/%s?sslmode=disable", cfg.User, cfg.Password, cfg.Host, cfg.Port, name)
}

func check(err error) {
	if err != nil {
		fail(err)
	}
}

func fail(err error) {
	fmt.Fprintln(os.Stderr, "hookbench:", err)
	os.Exit(1)
}
