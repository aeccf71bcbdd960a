package kubernetes

import (
	"context"

	"github.com/spacepods/spacepods/internal/runtime"
)

// ID is the kubernetes driver's registry ID (`spacepods server --runtime
// kubernetes`); its settings in runtime.Config.Settings are a Config.
const ID = "kubernetes"

func init() { runtime.Register(ID, Open) }

// The abilities the server and the deploy engine find by type assertion.
var (
	_ runtime.Driver           = (*Driver)(nil)
	_ runtime.Gatewayer        = (*Driver)(nil)
	_ runtime.Ingresser        = (*Driver)(nil)
	_ runtime.ServiceAddresser = (*Driver)(nil)
)

// Open is the kubernetes driver's runtime.Factory: New with the Config in
// cfg.Settings[ID], the common settings of cfg over it, and a cluster that
// must answer (EUNAVAILABLE otherwise). Services get node ports
// (Config.NodeAddress) only when the edge router routes app hosts.
func Open(ctx context.Context, cfg runtime.Config) (runtime.Driver, error) {
	kc, err := runtime.SettingsOf[Config](cfg, ID)
	if err != nil {
		return nil, err
	}
	kc.Installation, kc.Secrets = cfg.Installation, cfg.Secrets
	if cfg.Domain != "" {
		kc.Domain = cfg.Domain
	}
	if cfg.Logger != nil {
		kc.Logger = cfg.Logger
	}
	if cfg.Routing == runtime.RoutingRouter {
		if kc.Isolation && kc.Logger != nil {
			kc.Logger.Warn("--kubernetes-isolation with --routing router: the network policies admit no traffic from nodes, so the edge router reaches environments only where the network plugin exempts node traffic")
		}
		if kc.NodeAddress == "" && kc.Logger != nil {
			kc.Logger.Warn("--routing router on kubernetes without --kubernetes-node-address: the edge router targets Services by ClusterIP, which routes only on a cluster node or in a pod; elsewhere set --kubernetes-node-address")
		}
	} else {
		kc.NodeAddress = "" // the runtime routes: no node ports
	}
	d, err := New(kc)
	if err != nil {
		return nil, err
	}
	if err := d.Ping(ctx); err != nil {
		return nil, err
	}
	return d, nil
}
