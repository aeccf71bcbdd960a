// Command pricing-api is the example system's price service: it answers
// GET /prices?sku=... with a deterministic price per SKU. It has no
// database and no dependencies.
//
// Subcommands: serve (default), healthcheck, version.
package main

import (
	"hash/fnv"
	"net/http"
	"os"
	"regexp"
	"strconv"
	"strings"

	"github.com/spacepods/spacepods/examples/internal/appkit"
)

// mode is the failure mode, set with -ldflags "-X main.mode=...".
var mode string

// list prices in cents for the seeded SKUs; other SKUs get a stable
// price derived from their name.
var list = map[string]int64{
	"POD-001": 129900,
	"POD-002": 249900,
	"SUIT-01": 89900,
	"HELM-01": 19900,
	"FUEL-10": 4999,
}

var skuRE = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$`)

// Price is one SKU's price.
type Price struct {
	SKU        string `json:"sku"`
	PriceCents int64  `json:"price_cents"`
	Currency   string `json:"currency"`
	SalePct    int    `json:"sale_percent,omitempty"`
}

func priceOf(sku string, salePct int, currency string) Price {
	cents, ok := list[strings.ToUpper(sku)]
	if !ok {
		h := fnv.New32a()
		h.Write([]byte(strings.ToUpper(sku)))
		cents = int64(h.Sum32()%50000)*100 + 99
	}
	cents = cents * int64(100-salePct) / 100
	return Price{SKU: sku, PriceCents: cents, Currency: currency, SalePct: salePct}
}

func main() {
	app := appkit.New("pricing-api", mode)
	app.Main(appkit.Command{Name: "serve", Crash: true, Run: func() { serve(app) }})
}

func serve(app *appkit.App) {
	currency := appkit.Getenv("CURRENCY", "USD")
	salePct := 0
	if v := os.Getenv("SALE_PERCENT"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 0 || n > 90 {
			app.Fatalf(2, "SALE_PERCENT=%q is not a whole number from 0 to 90", v)
		}
		salePct = n
	}
	mux := app.Mux()
	mux.HandleFunc("GET /{$}", func(w http.ResponseWriter, r *http.Request) {
		appkit.WriteJSON(w, http.StatusOK, map[string]any{
			"app": "pricing-api", "endpoints": []string{"/prices?sku=POD-001[,SKU...]", "/healthz", "/env"},
		})
	})
	// GET /prices?sku=A&sku=B or ?sku=A,B → {"prices": [...]}
	mux.HandleFunc("GET /prices", func(w http.ResponseWriter, r *http.Request) {
		var skus []string
		for _, v := range r.URL.Query()["sku"] {
			for _, s := range strings.Split(v, ",") {
				if s = strings.TrimSpace(s); s != "" {
					skus = append(skus, s)
				}
			}
		}
		if len(skus) == 0 {
			appkit.WriteJSON(w, http.StatusBadRequest, map[string]string{"error": "give at least one SKU: /prices?sku=POD-001 or ?sku=POD-001,POD-002"})
			return
		}
		if len(skus) > 500 {
			appkit.WriteJSON(w, http.StatusBadRequest, map[string]string{"error": "at most 500 SKUs per request"})
			return
		}
		out := make([]Price, 0, len(skus))
		for _, s := range skus {
			if !skuRE.MatchString(s) {
				appkit.WriteJSON(w, http.StatusBadRequest, map[string]string{"error": "invalid SKU " + strconv.Quote(s) + ": use letters, digits, '-' and '_'"})
				return
			}
			out = append(out, priceOf(s, salePct, currency))
		}
		appkit.WriteJSON(w, http.StatusOK, map[string]any{"prices": out})
	})
	if err := app.Serve(mux); err != nil {
		app.Fatalf(1, "server: %v", err)
	}
}
