package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/spacepods/spacepods/examples/internal/appkit"
)

// selftest is the catalog's integration-test suite (the tests image runs
// ["/app", "selftest"]). It checks the catalog at, in order of preference,
// its URL argument, CATALOG_API_URL, or http://127.0.0.1:$PORT: /healthz
// answers 200 and /products lists at least one product (-min-products N:
// at least N) with a price. It retries for up to -timeout (or
// SELFTEST_TIMEOUT; default 30s) while the catalog comes up, prints one line
// per check and returns the exit code (0 pass, 1 fail, 2 bad usage).
func selftest(args []string) int {
	fs := flag.NewFlagSet("selftest", flag.ContinueOnError)
	timeoutFlag := fs.Duration("timeout", 0, "how long to retry the checks (default SELFTEST_TIMEOUT or 30s)")
	minProducts := fs.Int("min-products", 1, "how many products /products must list")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	base := os.Getenv("CATALOG_API_URL")
	if fs.NArg() > 0 {
		base = fs.Arg(0)
	}
	if base == "" {
		base = "http://127.0.0.1:" + appkit.Getenv("PORT", "8080")
	}
	base = strings.TrimRight(base, "/")
	timeout := 30 * time.Second
	if v := os.Getenv("SELFTEST_TIMEOUT"); v != "" {
		d, err := time.ParseDuration(v)
		if err != nil {
			fmt.Printf("FAIL SELFTEST_TIMEOUT=%q is not a duration (e.g. 30s)\n", v)
			return 1
		}
		timeout = d
	}
	if *timeoutFlag > 0 {
		timeout = *timeoutFlag
	}
	fmt.Printf("selftest: catalog-api at %s\n", base)
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()

	var lastErr error
	try := func(name string, check func() error) bool {
		for {
			if lastErr = check(); lastErr == nil {
				fmt.Printf("ok   %s\n", name)
				return true
			}
			select {
			case <-ctx.Done():
				fmt.Printf("FAIL %s: %v\n", name, lastErr)
				return false
			case <-time.After(time.Second):
			}
		}
	}
	healthy := try("GET /healthz answers 200", func() error {
		var h appkit.Health
		return appkit.GetJSON(ctx, base+"/healthz", &h)
	})
	var body struct {
		Products []Product `json:"products"`
	}
	listed := healthy && try(fmt.Sprintf("GET /products lists at least %d product(s)", *minProducts), func() error {
		if err := appkit.GetJSON(ctx, base+"/products", &body); err != nil {
			return err
		}
		if len(body.Products) < *minProducts {
			return fmt.Errorf("%d products, want at least %d: is the database seeded (db/seed.sql)?", len(body.Products), *minProducts)
		}
		return nil
	})
	priced := false
	if listed {
		n := 0
		for _, p := range body.Products {
			if p.PriceCents != nil && *p.PriceCents > 0 {
				n++
			}
		}
		if priced = n > 0; priced {
			fmt.Printf("ok   %d of %d products have a price\n", n, len(body.Products))
		} else {
			fmt.Printf("FAIL none of %d products has a price (is pricing-api reachable?)\n", len(body.Products))
		}
	}
	if healthy && listed && priced {
		fmt.Println("PASS")
		return 0
	}
	fmt.Println("FAIL")
	return 1
}
