// Command mailer is the example system's background worker. It serves no
// traffic: every HEARTBEAT_INTERVAL (default 2s) it logs a heartbeat line
// with what it found at catalog-api (CATALOG_API_URL). For operators it
// also answers /healthz and /env on PORT (default 8080); nothing routes to
// that port.
//
// Subcommands: run (default), healthcheck, version.
package main

import (
	"context"
	"os"
	"sync"
	"time"

	"github.com/spacepods/spacepods/examples/internal/appkit"
)

// mode is the failure mode, set with -ldflags "-X main.mode=...".
var mode string

func main() {
	app := appkit.New("mailer", mode)
	app.Main(
		appkit.Command{Name: "run", Crash: true, Run: func() { run(app) }},
		appkit.Command{Name: "serve", Crash: true, Run: func() { run(app) }},
	)
}

func run(app *appkit.App) {
	catalog := app.RequireURL("CATALOG_API_URL", "base URL of catalog-api, e.g. http://catalog-api:8080")
	every := app.Duration("HEARTBEAT_INTERVAL", 2*time.Second)
	ctx, stop := appkit.SignalContext()
	defer stop()

	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		if err := app.ServeContext(ctx, app.Mux()); err != nil {
			app.Log.Warn("status endpoint not available; the worker keeps running", "error", err.Error())
		}
	}()

	app.Log.Info("mailer started", "interval", every.String(), "catalog", catalog, "mode", app.ModeName(),
		"env", os.Getenv("SPACEPODS_ENV"), "build", os.Getenv("SPACEPODS_BUILD"))
	t := time.NewTicker(every)
	defer t.Stop()
	for beat := 1; ; beat++ {
		heartbeat(ctx, app, catalog, beat, every)
		select {
		case <-ctx.Done():
			app.Log.Info("signal received, mailer stopping", "heartbeats", beat)
			wg.Wait()
			app.Log.Info("mailer stopped")
			return
		case <-t.C:
		}
	}
}

// heartbeat logs one line: the beat number and what catalog-api has.
func heartbeat(ctx context.Context, app *appkit.App, catalog string, beat int, every time.Duration) {
	cctx, cancel := context.WithTimeout(ctx, every)
	defer cancel()
	var body struct {
		Count    int `json:"count"`
		Products []struct {
			SKU string `json:"sku"`
		} `json:"products"`
	}
	if err := appkit.GetJSON(cctx, catalog+"/products", &body); err != nil {
		if ctx.Err() != nil {
			return
		}
		app.Log.Warn("heartbeat", "beat", beat, "catalog", "unreachable", "error", err.Error())
		return
	}
	skus := make([]string, 0, len(body.Products))
	for _, p := range body.Products {
		skus = append(skus, p.SKU)
	}
	app.Log.Info("heartbeat", "beat", beat, "catalog", "ok", "products", len(body.Products), "skus", skus)
}
