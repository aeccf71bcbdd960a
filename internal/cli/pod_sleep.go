package cli

import (
	"fmt"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/spacepods/spacepods/client"
)

func newPodSleepCmd(g *globals) *cobra.Command {
	var app string
	cmd := &cobra.Command{
		Use:   "sleep NAME [--app APP]",
		Short: "Put a pod's web apps to sleep now (the first request wakes them)",
		Long: `Put a pod's web apps to sleep now, whatever their idle time: their service
containers stop (Kubernetes: scale to zero); databases, config and routes
stay. The first request to an asleep app's URL is held while the app (and the
asleep apps it depends on) start, then answered. Worker-only apps never sleep.
Idle pods also sleep by themselves: see --idle-timeout of pod create and
docs/sleep.md.`,
		Example: `  spacepods pod sleep demo
  spacepods pod sleep demo --app storefront`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			v, err := g.client().SleepPod(ctx(cmd), args[0], app)
			if err != nil {
				return err
			}
			return g.print(v, func() { g.printSleep(v) })
		},
	}
	cmd.Flags().StringVar(&app, "app", "", "one web app of the pod (default: all of them)")
	return cmd
}

func newPodWakeCmd(g *globals) *cobra.Command {
	return &cobra.Command{
		Use:   "wake NAME",
		Short: "Wake a pod's asleep apps now (returns once they are healthy and routed)",
		Long: `Wake a pod's asleep apps now: their containers start, in the manifest's
start order, and the command returns once every one is healthy and routed.
You rarely need it: the first request to an asleep app wakes it.`,
		Example: "  spacepods pod wake demo",
		Args:    cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			start := time.Now()
			v, err := g.client().WakePod(ctx(cmd), args[0])
			if err != nil {
				return err
			}
			return g.print(v, func() {
				fmt.Fprintf(g.stdout, "woke in %s\n", time.Since(start).Round(time.Millisecond))
				g.printSleep(v)
			})
		},
	}
}

func (g *globals) printSleep(v client.PodView) {
	fmt.Fprintf(g.stdout, "pod %s: %s\n", v.Name, sleepState(v.Environment))
	fmt.Fprintln(g.stdout)
	g.printPodApps(v)
}

// sleepState is one line on a pod's sleep: "asleep (catalog-api,
// storefront) since 14:02, idle timeout 30m0s".
func sleepState(e client.Environment) string {
	sl := e.Sleep
	if sl == nil {
		return "-"
	}
	s := sl.State
	if len(sl.Asleep) > 0 && sl.State != "asleep" {
		s += " (" + strings.Join(sl.Asleep, ", ") + ")"
	}
	if !sl.Since.IsZero() {
		s += " since " + sl.Since.Local().Format("15:04")
	}
	switch {
	case sl.KeepAwake:
		s += ", keep-awake"
	case sl.IdleTimeout == "off":
		s += ", never sleeps by itself"
	default:
		s += ", idle timeout " + sl.IdleTimeout
	}
	return s
}
