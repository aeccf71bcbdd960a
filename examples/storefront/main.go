// Command storefront is the example system's web front end: an HTML page
// listing the products and prices it gets from catalog-api
// (CATALOG_API_URL). The footer shows SPACEPODS_ENV, SPACEPODS_BUILD and
// SPACEPODS_APP, so you can see which build answers in which environment.
//
// Subcommands: serve (default), healthcheck, version.
package main

import (
	"context"
	"fmt"
	"html/template"
	"net/http"
	"os"
	"time"

	"github.com/spacepods/spacepods/examples/internal/appkit"
)

// mode is the failure mode, set with -ldflags "-X main.mode=...".
var mode string

func main() {
	app := appkit.New("storefront", mode)
	app.Main(appkit.Command{Name: "serve", Crash: true, Run: func() { serve(app) }})
}

type product struct {
	SKU         string `json:"sku"`
	Name        string `json:"name"`
	Description string `json:"description"`
	Category    string `json:"category"`
	PriceCents  *int64 `json:"price_cents"`
	Currency    string `json:"currency"`
}

// Price formats the price for the page ("$1,299.00"-style without grouping).
func (p product) Price() string {
	if p.PriceCents == nil {
		return "price unavailable"
	}
	sym := p.Currency + " "
	if p.Currency == "USD" || p.Currency == "" {
		sym = "$"
	}
	return fmt.Sprintf("%s%d.%02d", sym, *p.PriceCents/100, *p.PriceCents%100)
}

type page struct {
	Store    string
	Products []product
	Error    string
	Env      string
	Build    string
	App      string
	SHA      string
	Mode     string
	Host     string
}

var tmpl = template.Must(template.New("home").Parse(`<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>{{.Store}}</title>
<style>
body { font-family: system-ui, sans-serif; margin: 2rem auto; max-width: 48rem; color: #222; }
table { border-collapse: collapse; width: 100%; }
th, td { text-align: left; padding: .4rem .6rem; border-bottom: 1px solid #ddd; }
td.price { text-align: right; font-variant-numeric: tabular-nums; }
.error { background: #fee; border: 1px solid #c00; padding: .6rem; }
footer { margin-top: 2rem; font-size: .85rem; color: #666; }
</style>
</head>
<body>
<h1>{{.Store}}</h1>
{{if .Error}}<p class="error" id="error">The catalog is unavailable right now: {{.Error}}</p>{{end}}
{{if .Products}}
<table id="products">
<thead><tr><th>SKU</th><th>Product</th><th>Category</th><th>Price</th></tr></thead>
<tbody>
{{range .Products}}<tr class="product" data-sku="{{.SKU}}"><td>{{.SKU}}</td><td><strong>{{.Name}}</strong><br><small>{{.Description}}</small></td><td>{{.Category}}</td><td class="price">{{.Price}}</td></tr>
{{end}}</tbody>
</table>
{{else if not .Error}}<p id="empty">No products yet.</p>{{end}}
<footer id="footer">
app <span id="spacepods-app">{{.App}}</span> ·
environment <span id="spacepods-env">{{.Env}}</span> ·
build <span id="spacepods-build">{{.Build}}</span>{{if .SHA}} ({{.SHA}}){{end}} ·
host {{.Host}}{{if .Mode}} · mode {{.Mode}}{{end}}
</footer>
</body>
</html>
`))

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

func serve(app *appkit.App) {
	catalog := app.RequireURL("CATALOG_API_URL", "base URL of catalog-api, e.g. http://catalog-api:8080")
	store := appkit.Getenv("STORE_NAME", "Spacepods Store")
	host, _ := os.Hostname()

	mux := app.Mux()
	mux.HandleFunc("GET /{$}", func(w http.ResponseWriter, r *http.Request) {
		ctx, cancel := context.WithTimeout(r.Context(), 5*time.Second)
		defer cancel()
		sha := os.Getenv("SPACEPODS_GIT_SHA")
		if len(sha) > 7 {
			sha = sha[:7]
		}
		p := page{Store: store, Env: orDash(os.Getenv("SPACEPODS_ENV")), Build: orDash(os.Getenv("SPACEPODS_BUILD")),
			App: orDash(os.Getenv("SPACEPODS_APP")), SHA: sha, Host: host}
		if app.Mode != "" {
			p.Mode = app.Mode
		}
		var body struct {
			Products []product `json:"products"`
		}
		status := http.StatusOK
		if err := appkit.GetJSON(ctx, catalog+"/products", &body); err != nil {
			app.Log.Warn("fetch products", "error", err.Error())
			p.Error, status = err.Error(), http.StatusServiceUnavailable
		}
		p.Products = body.Products
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		w.WriteHeader(status)
		if err := tmpl.Execute(w, p); err != nil {
			app.Log.Error("render", "error", err.Error())
		}
	})
	// readyz checks the dependency; /healthz (from appkit) is own liveness only.
	mux.HandleFunc("GET /readyz", func(w http.ResponseWriter, r *http.Request) {
		ctx, cancel := context.WithTimeout(r.Context(), 3*time.Second)
		defer cancel()
		var h map[string]any
		if err := appkit.GetJSON(ctx, catalog+"/healthz", &h); err != nil {
			appkit.WriteJSON(w, http.StatusServiceUnavailable, map[string]any{"ready": false, "checks": map[string]string{"catalog-api": err.Error()}})
			return
		}
		appkit.WriteJSON(w, http.StatusOK, map[string]any{"ready": true, "checks": map[string]string{"catalog-api": "ok"}})
	})
	if err := app.Serve(mux); err != nil {
		app.Fatalf(1, "server: %v", err)
	}
}
