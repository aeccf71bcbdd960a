package cli

import (
	"os"
	"os/signal"
	"syscall"

	"github.com/spf13/cobra"

	"github.com/spacepods/spacepods/internal/router"
)

type routerConfig struct {
	listen, control, domain string
	internal                string // set by the server (docker runtime): the Docker bridge's gateway and internalPort
	internalPort            int    // server flag: port of the internal listener; 0 = chosen once and kept in the data dir
}

func (rc *routerConfig) flags(cmd *cobra.Command, prefix string) {
	f := cmd.Flags()
	f.StringVar(&rc.listen, prefix+"listen", envOr("SPACEPODS_ROUTER_LISTEN", router.DefaultListen), "edge router address: serves <app>.<environment>.<domain> (env SPACEPODS_ROUTER_LISTEN)")
	f.StringVar(&rc.control, prefix+"control", envOr("SPACEPODS_ROUTER_CONTROL", router.DefaultControlListen), "edge router's control API address, loopback only (env SPACEPODS_ROUTER_CONTROL)")
	if prefix != "" { // the server's flags; `spacepods router` takes --internal-listen instead
		f.IntVar(&rc.internalPort, prefix+"internal-port", 0, "docker runtime: port of the edge router's internal listener on the Docker bridge's gateway, where apps call their dependencies; 0 = a free port chosen at first start and kept in <data-dir>/router/internal.port (env SPACEPODS_ROUTER_INTERNAL_PORT)")
	}
	f.StringVar(&rc.domain, "domain", envOr("SPACEPODS_DOMAIN", router.DefaultDomain), "domain of app host names (env SPACEPODS_DOMAIN)")
}

func newRouterCmd(g *globals) *cobra.Command {
	var rc routerConfig
	var logLevel, cpuProfile string
	cmd := &cobra.Command{
		Use:   "router",
		Short: "Run the edge router on its own (the server starts one for you)",
		Long: `Run the edge router: a host-based reverse proxy that plays ALB + Route 53.
It sends <app>.<environment>.<domain> to the app's healthy targets, drains
targets before removing them, and keeps its route table in memory with a
snapshot in the data dir, so it keeps serving while the control plane is down
or restarting. 'spacepods server' starts one in the background (or adopts the
one already running for its data dir); run this only to manage it yourself.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			logger, err := newLogger(logLevel, "text")
			if err != nil {
				return err
			}
			router.TuneProcess()
			if cpuProfile != "" {
				stopProfile, err := router.StartCPUProfile(cpuProfile)
				if err != nil {
					return err
				}
				defer stopProfile()
			}
			ctx, stop := signal.NotifyContext(cmd.Context(), os.Interrupt, syscall.SIGTERM)
			defer stop()
			return router.Run(ctx, router.Config{Listen: rc.listen, ControlListen: rc.control, InternalListen: rc.internal, DataDir: router.Dir(g.dataDir), Domain: rc.domain, Logger: logger})
		},
	}
	rc.flags(cmd, "")
	cmd.Flags().StringVar(&rc.internal, "internal-listen", "", "where the apps' containers call their dependencies through the router (e.g. the Docker bridge's gateway, 172.17.0.1:8080); empty = none")
	cmd.Flags().StringVar(&logLevel, "log-level", "info", "debug, info, warn or error")
	cmd.Flags().StringVar(&cpuProfile, "cpuprofile", "", "write a CPU profile of the router to `FILE` until it stops (read it with go tool pprof); empty = none")
	return cmd
}
