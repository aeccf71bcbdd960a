package cli

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/spf13/cobra"

	"github.com/spacepods/spacepods/internal/auth"
	"github.com/spacepods/spacepods/internal/catalog"
	"github.com/spacepods/spacepods/internal/server"
	"github.com/spacepods/spacepods/internal/spacepods"
	"github.com/spacepods/spacepods/internal/store"
)

type serverConfig struct {
	listen      string
	databaseURL string
	logLevel    string
	logFormat   string
}

func newServerCmd(g *globals) *cobra.Command {
	var cfg serverConfig
	cmd := &cobra.Command{
		Use:   "server",
		Short: "Run the control plane: REST API, metrics and health",
		Long: `Run the Spacepods control plane.

It serves the REST API under /api/v1 (OpenAPI at /api/v1/openapi.json),
/healthz and Prometheus metrics at /metrics. State lives in an embedded SQLite
file in the data dir, or in PostgreSQL with --database-url postgres://...

On first start it creates an admin token and writes it to
<data-dir>/admin.token (mode 0600); the CLI on this machine picks it up.

Every flag can also be set with an environment variable: SPACEPODS_ + the flag
name in upper case with '-' as '_' (e.g. SPACEPODS_DATABASE_URL).`,
		Example: `  spacepods server
  spacepods server --listen 127.0.0.1:7070 --database-url postgres://spacepods@127.0.0.1/spacepods`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return runServer(cmd.Context(), g, cfg)
		},
	}
	f := cmd.Flags()
	f.StringVar(&cfg.listen, "listen", envOr("SPACEPODS_LISTEN", "127.0.0.1:7070"), "API address (env SPACEPODS_LISTEN)")
	f.StringVar(&cfg.databaseURL, "database-url", envOr("SPACEPODS_DATABASE_URL", ""), "empty = embedded SQLite in the data dir; postgres://... = PostgreSQL (env SPACEPODS_DATABASE_URL)")
	f.StringVar(&cfg.logLevel, "log-level", envOr("SPACEPODS_LOG_LEVEL", "info"), "debug, info, warn or error (env SPACEPODS_LOG_LEVEL)")
	f.StringVar(&cfg.logFormat, "log-format", envOr("SPACEPODS_LOG_FORMAT", "text"), "text or json (env SPACEPODS_LOG_FORMAT)")
	return cmd
}

func newLogger(level, format string) (*slog.Logger, error) {
	var lv slog.Level
	if err := lv.UnmarshalText([]byte(level)); err != nil {
		return nil, spacepods.Errorf(spacepods.EINVALID, "--log-level %q: use debug, info, warn or error", level)
	}
	opts := &slog.HandlerOptions{Level: lv}
	switch format {
	case "text":
		return slog.New(slog.NewTextHandler(os.Stderr, opts)), nil
	case "json":
		return slog.New(slog.NewJSONHandler(os.Stderr, opts)), nil
	}
	return nil, spacepods.Errorf(spacepods.EINVALID, "--log-format %q: use text or json", format)
}

func runServer(parent context.Context, g *globals, cfg serverConfig) error {
	logger, err := newLogger(cfg.logLevel, cfg.logFormat)
	if err != nil {
		return err
	}
	ctx, stop := signal.NotifyContext(parent, os.Interrupt, syscall.SIGTERM)
	defer stop()

	st, err := store.Open(ctx, cfg.databaseURL, g.dataDir)
	if err != nil {
		return err
	}
	defer st.Close()
	authSvc := &auth.Service{Store: st}
	tokenPath, created, err := authSvc.Bootstrap(ctx, g.dataDir)
	if err != nil {
		return fmt.Errorf("create the first admin token: %w", err)
	}
	if created {
		logger.Info("created the first admin token", "file", tokenPath)
	}
	srv := &server.Server{
		Catalog: catalog.NewService(st),
		Auth:    authSvc,
		Store:   st,
		Logger:  logger,
		Version: Version,
	}
	ln, err := net.Listen("tcp", cfg.listen)
	if err != nil {
		return spacepods.Errorf(spacepods.EINVALID, "cannot listen on %s: %v (is another server running? choose another with --listen)", cfg.listen, err)
	}
	hs := &http.Server{Handler: srv.Handler(), ReadHeaderTimeout: 10 * time.Second}
	logger.Info("spacepods server started", "api", "http://"+ln.Addr().String(), "store", st.Dialect(), "data_dir", g.dataDir, "version", Version)
	errc := make(chan error, 1)
	go func() { errc <- hs.Serve(ln) }()
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	logger.Info("shutting down")
	sctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := hs.Shutdown(sctx); err != nil && !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}
