// Command attacker is the image of the end-to-end attacker test: an app that
// runs in a pod like any other and, on request, tries from inside its
// container to get where a pod must not: the control plane's and the
// router's APIs, another environment's apps, other databases, the Docker
// socket. Each probe reports what happened; the test asserts that each
// attempt fails (and that the same probe aimed at what a pod may reach
// works, so a failure is not just a wrong address).
package main

import (
	"bufio"
	"context"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
)

// result is one probe's outcome.
type result struct {
	OK     bool   `json:"ok"`
	Status int    `json:"status,omitempty"`
	Body   string `json:"body,omitempty"`
	Error  string `json:"error,omitempty"`
}

func main() {
	port := os.Getenv("PORT")
	if port == "" {
		port = "8080"
	}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) { io.WriteString(w, "ok\n") })
	mux.HandleFunc("GET /whoami", func(w http.ResponseWriter, _ *http.Request) {
		writeJSON(w, map[string]string{"gateway": defaultGateway(), "database_url": os.Getenv("DATABASE_URL")})
	})
	mux.HandleFunc("GET /probe/tcp", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, probeTCP(r.URL.Query().Get("addr")))
	})
	mux.HandleFunc("GET /probe/http", func(w http.ResponseWriter, r *http.Request) {
		q := r.URL.Query()
		writeJSON(w, probeHTTP(q.Get("url"), q.Get("host")))
	})
	mux.HandleFunc("GET /probe/pg", func(w http.ResponseWriter, r *http.Request) {
		q := r.URL.Query()
		writeJSON(w, probePG(r.Context(), q.Get("dsn"), q.Get("sql")))
	})
	mux.HandleFunc("GET /probe/unix", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, probeUnix(r.URL.Query().Get("path")))
	})
	srv := &http.Server{Addr: ":" + port, Handler: mux, ReadHeaderTimeout: 5 * time.Second}
	fmt.Fprintln(os.Stderr, "attacker listening on", srv.Addr)
	if err := srv.ListenAndServe(); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
}

func writeJSON(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", "application/json")
	json.NewEncoder(w).Encode(v)
}

func probeTCP(addr string) result {
	c, err := net.DialTimeout("tcp", addr, 3*time.Second)
	if err != nil {
		return result{Error: err.Error()}
	}
	c.Close()
	return result{OK: true}
}

// probeHTTP GETs url with the Host header host (when set), no token.
func probeHTTP(url, host string) result {
	req, err := http.NewRequest(http.MethodGet, url, nil)
	if err != nil {
		return result{Error: err.Error()}
	}
	if host != "" {
		req.Host = host
	}
	resp, err := (&http.Client{Timeout: 5 * time.Second}).Do(req)
	if err != nil {
		return result{Error: err.Error()}
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 2048))
	return result{OK: resp.StatusCode < 300, Status: resp.StatusCode, Body: string(body)}
}

// probePG connects to dsn and runs sql (default: who am I and am I superuser).
func probePG(ctx context.Context, dsn, sql string) result {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, dsn)
	if err != nil {
		return result{Error: err.Error()}
	}
	defer func() { _ = conn.Close(context.Background()) }() // best-effort cleanup; nothing useful to do on failure
	if sql == "" {
		sql = "SELECT current_user || ' superuser=' || rolsuper::text FROM pg_catalog.pg_roles WHERE rolname = current_user"
	}
	rows, err := conn.Query(ctx, sql)
	if err != nil {
		return result{Error: err.Error()}
	}
	var out []string
	for rows.Next() {
		vals, err := rows.Values()
		if err != nil {
			return result{Error: err.Error()}
		}
		out = append(out, fmt.Sprint(vals...))
	}
	if err := rows.Err(); err != nil {
		return result{Error: err.Error()}
	}
	return result{OK: true, Body: strings.Join(out, "\n")}
}

func probeUnix(path string) result {
	c, err := net.DialTimeout("unix", path, 3*time.Second)
	if err != nil {
		return result{Error: err.Error()}
	}
	c.Close()
	return result{OK: true}
}

// defaultGateway reads the container's default route (its network's
// gateway: an address of the host) from /proc/net/route.
func defaultGateway() string {
	f, err := os.Open("/proc/net/route")
	if err != nil {
		return ""
	}
	defer func() { _ = f.Close() }() // best-effort cleanup; nothing useful to do on failure
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		if len(fields) < 3 || fields[1] != "00000000" {
			continue
		}
		b, err := hex.DecodeString(fields[2])
		if err != nil || len(b) != 4 {
			continue
		}
		ip := make(net.IP, 4)
		binary.BigEndian.PutUint32(ip, binary.LittleEndian.Uint32(b))
		return ip.String()
	}
	return ""
}
