// Command catalog-api is the example system's product catalog: a JSON API
// over its PostgreSQL database (DATABASE_URL) that prices every product
// through pricing-api (PRICING_API_URL).
//
// Subcommands:
//
//	serve        HTTP API (default): /products, /products/{sku}, /stats, /healthz, /readyz, /env
//	migrate      create or update the schema (schema_migrations), exit 0
//	worker       auxiliary process: refresh the cached product count every WORKER_INTERVAL
//	selftest     integration tests against CATALOG_API_URL, exit 0 or 1
//	healthcheck  GET http://127.0.0.1:$PORT/healthz, exit 0 or 1
//	version      print the name and the compiled-in failure mode
package main

import (
	"context"
	"errors"
	"net/http"
	"net/url"
	"os"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/spacepods/spacepods/examples/internal/appkit"
)

// mode is the failure mode, set with -ldflags "-X main.mode=...".
var mode string

func main() {
	app := appkit.New("catalog-api", mode)
	app.Main(
		appkit.Command{Name: "serve", Crash: true, Run: func() { serve(app) }},
		appkit.Command{Name: "migrate", Run: func() { migrate(app) }},
		appkit.Command{Name: "worker", Crash: true, Run: func() { worker(app) }},
		appkit.Command{Name: "selftest", Run: func() { os.Exit(selftest(os.Args[2:])) }},
	)
}

// Product is one catalog entry with its price from pricing-api.
type Product struct {
	SKU         string `json:"sku"`
	Name        string `json:"name"`
	Description string `json:"description"`
	Category    string `json:"category"`
	PriceCents  *int64 `json:"price_cents"`
	Currency    string `json:"currency,omitempty"`
}

type catalog struct {
	app     *appkit.App
	db      *pool
	pricing string
}

func serve(app *appkit.App) {
	env := app.Require(map[string]string{
		"DATABASE_URL":    "the catalog's PostgreSQL database",
		"PRICING_API_URL": "base URL of pricing-api, e.g. http://pricing-api:8080",
	})
	pricing := app.RequireURL("PRICING_API_URL", "base URL of pricing-api")
	db, err := newPool(env["DATABASE_URL"], 4)
	if err != nil {
		app.Fatalf(2, "%v", err)
	}
	defer db.close()
	c := &catalog{app: app, db: db, pricing: pricing}

	mux := app.Mux()
	mux.HandleFunc("GET /{$}", func(w http.ResponseWriter, r *http.Request) {
		appkit.WriteJSON(w, http.StatusOK, map[string]any{
			"app": "catalog-api", "endpoints": []string{"/products", "/products/{sku}", "/stats", "/healthz", "/readyz", "/env"},
		})
	})
	mux.HandleFunc("GET /products", c.products)
	mux.HandleFunc("GET /products/{sku}", c.products)
	mux.HandleFunc("GET /stats", c.stats)
	mux.HandleFunc("GET /readyz", c.readyz)
	if err := app.Serve(mux); err != nil {
		app.Fatalf(1, "server: %v", err)
	}
}

func (c *catalog) products(w http.ResponseWriter, r *http.Request) {
	ctx, cancel := context.WithTimeout(r.Context(), 5*time.Second)
	defer cancel()
	sku := r.PathValue("sku")
	var list []Product
	err := c.db.with(ctx, func(conn *pgx.Conn) error {
		q := `SELECT sku, name, description, category FROM products`
		var args []any
		if sku != "" {
			q += ` WHERE sku = $1`
			args = append(args, sku)
		}
		rows, err := conn.Query(ctx, q+` ORDER BY sku`, args...)
		if err != nil {
			return err
		}
		list, err = pgx.CollectRows(rows, func(row pgx.CollectableRow) (Product, error) {
			var p Product
			err := row.Scan(&p.SKU, &p.Name, &p.Description, &p.Category)
			return p, err
		})
		return err
	})
	if err != nil {
		c.app.Log.Warn("query products", "error", err.Error())
		appkit.WriteJSON(w, http.StatusServiceUnavailable, map[string]string{"error": "database: " + err.Error()})
		return
	}
	if sku != "" && len(list) == 0 {
		appkit.WriteJSON(w, http.StatusNotFound, map[string]string{"error": "no product with SKU " + sku})
		return
	}
	if err := c.price(ctx, list); err != nil {
		c.app.Log.Warn("fetch prices", "error", err.Error())
		appkit.WriteJSON(w, http.StatusBadGateway, map[string]string{"error": "pricing-api: " + err.Error()})
		return
	}
	if sku != "" {
		appkit.WriteJSON(w, http.StatusOK, list[0])
		return
	}
	if list == nil {
		list = []Product{}
	}
	appkit.WriteJSON(w, http.StatusOK, map[string]any{"products": list, "count": len(list)})
}

// price fills in each product's price with one call to pricing-api.
func (c *catalog) price(ctx context.Context, list []Product) error {
	if len(list) == 0 {
		return nil
	}
	skus := make([]string, len(list))
	for i, p := range list {
		skus[i] = p.SKU
	}
	var resp struct {
		Prices []struct {
			SKU        string `json:"sku"`
			PriceCents int64  `json:"price_cents"`
			Currency   string `json:"currency"`
		} `json:"prices"`
	}
	u := c.pricing + "/prices?sku=" + url.QueryEscape(strings.Join(skus, ","))
	if err := appkit.GetJSON(ctx, u, &resp); err != nil {
		return err
	}
	bySKU := map[string]int{}
	for i, p := range resp.Prices {
		bySKU[p.SKU] = i
	}
	for i := range list {
		if j, ok := bySKU[list[i].SKU]; ok {
			pc := resp.Prices[j].PriceCents
			list[i].PriceCents = &pc
			list[i].Currency = resp.Prices[j].Currency
		}
	}
	return nil
}

// stats serves the product count cached by the jobs worker.
func (c *catalog) stats(w http.ResponseWriter, r *http.Request) {
	ctx, cancel := context.WithTimeout(r.Context(), 5*time.Second)
	defer cancel()
	var count int64
	var at time.Time
	err := c.db.with(ctx, func(conn *pgx.Conn) error {
		return conn.QueryRow(ctx, `SELECT value, updated_at FROM catalog_stats WHERE key = 'product_count'`).Scan(&count, &at)
	})
	switch {
	case errors.Is(err, pgx.ErrNoRows):
		appkit.WriteJSON(w, http.StatusOK, map[string]any{"product_count": nil, "note": "the jobs worker (catalog-api worker) has not run yet"})
	case err != nil:
		appkit.WriteJSON(w, http.StatusServiceUnavailable, map[string]string{"error": "database: " + err.Error()})
	default:
		appkit.WriteJSON(w, http.StatusOK, map[string]any{"product_count": count, "updated_at": at.UTC().Format(time.RFC3339)})
	}
}

// readyz checks the dependencies: the database and pricing-api.
func (c *catalog) readyz(w http.ResponseWriter, r *http.Request) {
	ctx, cancel := context.WithTimeout(r.Context(), 3*time.Second)
	defer cancel()
	checks := map[string]string{"database": "ok", "pricing-api": "ok"}
	status := http.StatusOK
	if err := c.db.with(ctx, func(conn *pgx.Conn) error { return conn.Ping(ctx) }); err != nil {
		checks["database"], status = err.Error(), http.StatusServiceUnavailable
	}
	var h map[string]any
	if err := appkit.GetJSON(ctx, c.pricing+"/healthz", &h); err != nil {
		checks["pricing-api"], status = err.Error(), http.StatusServiceUnavailable
	}
	appkit.WriteJSON(w, status, map[string]any{"ready": status == http.StatusOK, "checks": checks})
}
