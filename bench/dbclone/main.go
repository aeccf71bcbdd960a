// Command dbclone measures how long the databases package takes to create an
// empty database, create one from a seed of 1,000 rows, snapshot it and clone
// the snapshot, and prints the median of several runs as JSON (one line) and
// as a table.
//
//	go run ./bench/dbclone [-url postgres://…] [-runs 5]
//
// Without -url (or SPACEPODS_TEST_POSTGRES) it starts a throwaway local
// cluster with databases.StartLocal. Everything it creates is dropped.
package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/spacepods/spacepods/bench/internal/benchstat"
	"github.com/spacepods/spacepods/internal/databases"
)

func main() {
	url := flag.String("url", os.Getenv("SPACEPODS_TEST_POSTGRES"), "PostgreSQL admin URL (empty: start a local cluster)")
	runs := flag.Int("runs", 5, "runs per measurement")
	rows := flag.Int("rows", 1000, "rows in the seed")
	flag.Parse()
	ctx := context.Background()
	logger := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))

	if *url == "" {
		base, err := os.MkdirTemp("", "dbclone-")
		benchstat.Check(err)
		defer func() { _ = os.RemoveAll(base) }() // best-effort cleanup; nothing useful to do on failure
		benchstat.Check(os.Chmod(base, 0o755))    // reachable by the postgres user when we are root
		c, err := databases.StartLocal(ctx, filepath.Join(base, "pg"), logger)
		benchstat.Check(err)
		defer func() { _ = c.Stop(ctx) }() // best-effort cleanup; nothing useful to do on failure
		*url = c.AdminURL()
	}
	m, err := databases.Open(ctx, *url, logger)
	benchstat.Check(err)
	defer m.Close()

	seed := seedSQL(*rows)
	tag := randomHex()
	samples := map[string][]time.Duration{}
	measure := func(what string, f func() error) {
		start := time.Now()
		benchstat.Check(f())
		samples[what] = append(samples[what], time.Since(start))
	}
	for i := range *runs {
		env := fmt.Sprintf("bench-%s-%d", tag, i)
		snap := fmt.Sprintf("bench-%s-%d", tag, i)
		measure("empty_create", func() error { _, err := m.Create(ctx, env, "empty", databases.Source{}); return err })
		measure("seeded_create", func() error { _, err := m.Create(ctx, env, "seeded", databases.Source{Seed: seed}); return err })
		measure("snapshot", func() error { _, err := m.Snapshot(ctx, env, "seeded", snap); return err })
		measure("clone", func() error {
			_, err := m.Create(ctx, env, "clone", databases.Source{Snapshot: snap})
			return err
		})
		benchstat.Check(m.DropEnvironment(ctx, env))
		benchstat.Check(m.DropSnapshot(ctx, snap))
	}

	order := []string{"empty_create", "seeded_create", "snapshot", "clone"}
	result := map[string]any{"bench": "dbclone", "runs": *runs, "seed_rows": *rows, "seed_bytes": len(seed)}
	for _, k := range order {
		result[k+"_median_ms"] = benchstat.Ms(benchstat.Median(samples[k]))
		var all []float64
		for _, d := range samples[k] {
			all = append(all, benchstat.Ms(d))
		}
		result[k+"_ms"] = all
	}
	b, _ := json.Marshal(result)
	fmt.Println(string(b))
	for _, k := range order {
		fmt.Printf("%-14s median %7.1f ms\n", k, benchstat.Ms(benchstat.Median(samples[k])))
	}
}

// seedSQL returns a schema and rows one INSERT each, like pg_dump --inserts.
func seedSQL(rows int) string {
	var b strings.Builder
	b.WriteString("CREATE TABLE products (id serial PRIMARY KEY, sku text UNIQUE NOT NULL, name text NOT NULL, price_cents int NOT NULL, created_at timestamptz NOT NULL DEFAULT now());\n")
	for i := 1; i <= rows; i++ {
		fmt.Fprintf(&b, "INSERT INTO products (sku, name, price_cents) VALUES ('SKU-%06d', 'Product number %d', %d);\n", i, i, 100+i%9000)
	}
	return b.String()
}

func randomHex() string {
	b := make([]byte, 3)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}
