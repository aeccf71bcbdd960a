// Command pgprobe tries PostgreSQL logins from inside a container, for the
// databases package's tests. For every PROBE_<name>=<url> in its environment
// it connects, asks who and where it is, and prints one JSON line:
//
//	{"probe":"<name>","ok":true,"user":"…","database":"…"}
//	{"probe":"<name>","ok":false,"code":"<SQLSTATE or empty>","error":"…"}
package main

import (
	"context"
	"encoding/json"
	"errors"
	"os"
	"sort"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
)

type result struct {
	Probe    string `json:"probe"`
	OK       bool   `json:"ok"`
	User     string `json:"user,omitempty"`
	Database string `json:"database,omitempty"`
	Code     string `json:"code,omitempty"`
	Error    string `json:"error,omitempty"`
}

func main() {
	var names []string
	urls := map[string]string{}
	for _, kv := range os.Environ() {
		k, v, _ := strings.Cut(kv, "=")
		if name, ok := strings.CutPrefix(k, "PROBE_"); ok {
			names = append(names, name)
			urls[name] = v
		}
	}
	sort.Strings(names)
	enc := json.NewEncoder(os.Stdout)
	for _, name := range names {
		_ = enc.Encode(probe(name, urls[name]))
	}
}

func probe(name, url string) result {
	r := result{Probe: name}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, url)
	if err == nil {
		err = conn.QueryRow(ctx, "SELECT current_user, current_database()").Scan(&r.User, &r.Database)
		conn.Close(ctx)
	}
	if err != nil {
		var pgErr *pgconn.PgError
		if errors.As(err, &pgErr) {
			r.Code = pgErr.Code
		}
		r.Error = err.Error()
		return r
	}
	r.OK = true
	return r
}
