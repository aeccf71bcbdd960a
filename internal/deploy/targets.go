package deploy

import (
	"context"

	"github.com/spacepods/spacepods/internal/router"
	"github.com/spacepods/spacepods/internal/runtime"
)

// Targets returns the edge router's targets of one web service as the
// engine routes it: its replicas' addresses at weight 1, or, when the
// driver is a runtime.ServiceAddresser (Kubernetes), the service's own
// address weighted by its desired replicas. The pods service routes an app
// woken from sleep with it.
func Targets(ctx context.Context, d runtime.Driver, env, name string) ([]router.TargetSpec, error) {
	st, err := d.ServiceStatus(ctx, env, name)
	if err != nil {
		return nil, err
	}
	if sa, ok := d.(runtime.ServiceAddresser); ok {
		a, err := sa.ServiceAddr(ctx, env, name)
		if err != nil {
			return nil, err
		}
		return []router.TargetSpec{{Addr: a, Weight: max(st.Desired, 1)}}, nil
	}
	return weightOne(addrsOf(st.Replicas, -1)), nil
}
