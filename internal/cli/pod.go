package cli

import (
	"context"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/spacepods/spacepods/client"
	"github.com/spacepods/spacepods/internal/spacepods"
)

func newPodCmd(g *globals) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "pod",
		Short: "Create, show, update and destroy pods (personal environments)",
		Long: `A pod is an isolated, production-like environment: the apps you ask for plus
every app they depend on, each with its own database (seeded or cloned from a
snapshot), its own host name <app>.<pod>.<domain> through the edge router, and
its env vars. Pods expire after their TTL (default 24h).`,
	}
	cmd.AddCommand(newPodCreateCmd(g), newPodShowCmd(g), newPodListCmd(g), newPodLogsCmd(g), newPodUpdateCmd(g), newPodExtendCmd(g), newPodDestroyCmd(g), newPodTestCmd(g), newPodPlanCmd(g), newPodSleepCmd(g), newPodWakeCmd(g))
	return cmd
}

// parseBuilds turns ["app=N", ...] into a map.
func parseBuilds(pins []string) (map[string]int, error) {
	out := map[string]int{}
	for _, p := range pins {
		app, num, ok := strings.Cut(p, "=")
		n, err := strconv.Atoi(num)
		if !ok || err != nil || n < 1 {
			return nil, spacepods.Errorf(spacepods.EINVALID, "--build %q: write APP=NUMBER, e.g. --build catalog-api=42", p)
		}
		out[app] = n
	}
	return out, nil
}

func (g *globals) printPlan(p client.Plan) {
	rows := [][]string{}
	for _, a := range p.Apps {
		why := "dependency"
		if a.Asked {
			why = "asked"
		}
		rows = append(rows, []string{a.App, strconv.Itoa(a.Build), a.Image, a.Database, orDash(a.URL), why})
	}
	fmt.Fprintf(g.stdout, "plan for pod %s (expires %s):\n", p.Pod, p.ExpiresAt.Local().Format("2006-01-02 15:04"))
	g.table([]string{"APP", "BUILD", "IMAGE", "DATABASE", "URL", "WHY"}, rows)
}

func newPodCreateCmd(g *globals) *cobra.Command {
	var apps, pins []string
	var ttl, idle string
	var wait, dryRun, keepAwake bool
	cmd := &cobra.Command{
		Use:   "create NAME --app APP [--app APP…] [--build APP=N…] [--ttl 8h] [--wait]",
		Short: "Create a pod with some apps and everything they depend on",
		Long: `Create a pod: resolve the dependency closure of the apps asked for, pick a
build for each (the latest build of main unless pinned with --build), show the
plan, then create the network, databases, services and routes. Creation runs
in the background; --wait follows its progress and exits non-zero with the
reason if any app fails to become healthy.`,
		Example: `  spacepods pod create demo --app storefront --wait
  spacepods pod create alice --app storefront --build catalog-api=42 --ttl 8h
  spacepods pod create check --app storefront --dry-run     # the plan only`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			builds, err := parseBuilds(pins)
			if err != nil {
				return err
			}
			req := client.CreatePodRequest{Name: args[0], Apps: apps, Builds: builds, TTL: ttl, IdleTimeout: idle, KeepAwake: keepAwake}
			c := g.client()
			if dryRun {
				p, err := c.PlanPod(ctx(cmd), req)
				if err != nil {
					return err
				}
				return g.print(p, func() { g.printPlan(p) })
			}
			p, _, err := c.CreatePod(ctx(cmd), req)
			if err != nil {
				return err
			}
			if g.json() && !wait {
				return g.printJSON(p)
			}
			g.printPlan(p)
			if !wait {
				fmt.Fprintf(g.stdout, "\ncreating in the background: follow with `spacepods pod show %s`\n", args[0])
				return nil
			}
			fmt.Fprintln(g.stdout)
			return g.followPod(ctx(cmd), c, args[0])
		},
	}
	f := cmd.Flags()
	f.StringArrayVar(&apps, "app", nil, "app to run (repeat for more); its dependencies come along")
	f.StringArrayVar(&pins, "build", nil, "pin a build: APP=NUMBER (repeatable); default the latest build of main")
	f.StringVar(&ttl, "ttl", "", "time to live, e.g. 8h (default: the server's, 24h)")
	f.StringVar(&idle, "idle-timeout", "", "its web apps sleep after this long without a request, e.g. 10m (default: the server's, 30m); the first request wakes them")
	f.BoolVar(&keepAwake, "keep-awake", false, "never put this pod to sleep")
	f.BoolVar(&wait, "wait", false, "follow progress, a running migration's elapsed time and output included, until every app is healthy (exit 1 if one fails)")
	f.BoolVar(&dryRun, "dry-run", false, "show the plan, create nothing")
	return cmd
}

// followPod prints a pod's events until it is ready or failed.
func (g *globals) followPod(ctx context.Context, c *client.Client, name string) error {
	var after int64
	start := time.Now()
	for {
		evs, err := c.PodEvents(ctx, name, after)
		if err != nil {
			return err
		}
		for _, e := range evs {
			after = e.ID
			app := ""
			if e.App != "" {
				app = e.App + ": "
			}
			fmt.Fprintf(g.stdout, "%6.1fs  %s%s\n", e.At.Sub(start).Seconds(), app, e.Line())
		}
		v, err := c.GetPod(ctx, name)
		if err != nil {
			return err
		}
		switch v.Status {
		case spacepods.StatusReady:
			fmt.Fprintf(g.stdout, "\npod %s is ready:\n", name)
			g.printPodApps(v)
			return nil
		case spacepods.StatusFailed:
			g.printPodApps(v)
			return spacepods.Errorf(spacepods.EINVALID, "pod %s failed: %s", name, v.Reason)
		case spacepods.StatusDestroyed:
			return spacepods.Errorf(spacepods.ENOTFOUND, "pod %s was destroyed", name)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(followPause(time.Since(start))):
		}
	}
}

// followPause is how long followPod waits before it looks again: 100 ms
// for the first 5 s (a pod is often ready within 2 s, and each look is two
// cheap reads), then 500 ms (a long migration, say).
func followPause(elapsed time.Duration) time.Duration {
	if elapsed < 5*time.Second {
		return 100 * time.Millisecond
	}
	return 500 * time.Millisecond
}

func (g *globals) printPodApps(v client.PodView) {
	rows := [][]string{}
	for _, a := range v.AppStatus {
		rel := "-"
		if a.Release > 0 {
			rel = strconv.Itoa(a.Release)
		}
		reason := a.Reason
		if len(reason) > 60 {
			reason = reason[:57] + "..."
		}
		status := a.Status
		if a.AsleepSince != nil {
			status += " (asleep)"
		}
		rows = append(rows, []string{a.App, strconv.Itoa(a.Build), rel, status, orDash(a.URL), reason})
	}
	g.table([]string{"APP", "BUILD", "RELEASE", "STATUS", "URL", "REASON"}, rows)
}

func newPodShowCmd(g *globals) *cobra.Command {
	return &cobra.Command{
		Use:   "show NAME",
		Short: "Show a pod: status, expiry, apps with build, URL and status",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			v, err := g.client().GetPod(ctx(cmd), args[0])
			if err != nil {
				return err
			}
			return g.print(v, func() {
				fmt.Fprintf(g.stdout, "%s %s: %s", v.Kind, v.Name, v.Status)
				if v.Reason != "" {
					fmt.Fprintf(g.stdout, " (%s)", v.Reason)
				}
				fmt.Fprintf(g.stdout, "\nowner %s, created %s", v.Owner, ago(v.CreatedAt))
				if v.ExpiresAt != nil {
					fmt.Fprintf(g.stdout, ", expires %s (in %s)", v.ExpiresAt.Local().Format("2006-01-02 15:04"), time.Until(*v.ExpiresAt).Round(time.Minute))
				}
				if v.Sleep != nil {
					fmt.Fprintf(g.stdout, "\nsleep: %s", sleepState(v.Environment))
				}
				fmt.Fprintln(g.stdout)
				fmt.Fprintln(g.stdout)
				g.printPodApps(v)
				fmt.Fprintf(g.stdout, "\nlogs: spacepods pod logs %s APP [-f]\n", v.Name)
			})
		},
	}
}

func newPodListCmd(g *globals) *cobra.Command {
	return &cobra.Command{
		Use:   "list",
		Short: "List pods",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ps, err := g.client().ListPods(ctx(cmd))
			if err != nil {
				return err
			}
			return g.print(ps, func() { g.envTable(ps) })
		},
	}
}

func (g *globals) envTable(ps []client.Environment) {
	rows := [][]string{}
	for _, p := range ps {
		exp := "-"
		if p.ExpiresAt != nil {
			exp = "in " + time.Until(*p.ExpiresAt).Round(time.Minute).String()
		}
		sleep := "-"
		if p.Sleep != nil {
			sleep = p.Sleep.State
		}
		rows = append(rows, []string{p.Name, p.Kind, p.Status, sleep, p.Owner, strings.Join(p.Apps, ","), exp, ago(p.CreatedAt)})
	}
	g.table([]string{"NAME", "KIND", "STATUS", "SLEEP", "OWNER", "APPS", "EXPIRES", "CREATED"}, rows)
}

func newPodLogsCmd(g *globals) *cobra.Command {
	var follow bool
	var tail int
	cmd := &cobra.Command{
		Use:     "logs NAME APP [-f]",
		Short:   "Print (or follow) an app's logs in a pod or environment",
		Example: "  spacepods pod logs demo catalog-api -f",
		Args:    cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			rc, err := g.client().Logs(ctx(cmd), args[0], args[1], follow, tail)
			if err != nil {
				return err
			}
			defer rc.Close()
			_, err = io.Copy(g.stdout, rc)
			return err
		},
	}
	cmd.Flags().BoolVarP(&follow, "follow", "f", false, "keep streaming new lines")
	cmd.Flags().IntVar(&tail, "tail", 100, "lines per replica to start with")
	return cmd
}

func newPodUpdateCmd(g *globals) *cobra.Command {
	var pins []string
	var wait bool
	cmd := &cobra.Command{
		Use:   "update NAME [--build APP=N…] [--wait]",
		Short: "Wipe a pod's running apps and redeploy them",
		Long: `Update a pod: its running apps are wiped and redeployed (databases are kept),
with the builds pinned by --build and the latest build of main for the rest.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			builds, err := parseBuilds(pins)
			if err != nil {
				return err
			}
			c := g.client()
			p, err := c.UpdatePod(ctx(cmd), args[0], builds)
			if err != nil {
				return err
			}
			g.printPlan(p)
			if wait {
				return g.followPod(ctx(cmd), c, args[0])
			}
			return nil
		},
	}
	cmd.Flags().StringArrayVar(&pins, "build", nil, "pin a build: APP=NUMBER (repeatable)")
	cmd.Flags().BoolVar(&wait, "wait", false, "follow progress until every app is healthy")
	return cmd
}

func newPodExtendCmd(g *globals) *cobra.Command {
	var ttl string
	cmd := &cobra.Command{
		Use:     "extend NAME --ttl D",
		Short:   "Set a pod's expiry to now + D",
		Example: "  spacepods pod extend demo --ttl 48h",
		Args:    cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			env, err := g.client().ExtendPod(ctx(cmd), args[0], ttl)
			if err != nil {
				return err
			}
			fmt.Fprintf(g.stdout, "pod %s now expires %s\n", env.Name, env.ExpiresAt.Local().Format("2006-01-02 15:04"))
			return nil
		},
	}
	cmd.Flags().StringVar(&ttl, "ttl", "", "time to live from now, e.g. 8h")
	return cmd
}

func newPodDestroyCmd(g *globals) *cobra.Command {
	var wait bool
	cmd := &cobra.Command{
		Use:   "destroy NAME [--wait]",
		Short: "Destroy a pod: routes, containers, network and databases",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c := g.client()
			if err := c.DestroyPod(ctx(cmd), args[0]); err != nil {
				return err
			}
			if !wait {
				fmt.Fprintf(g.stdout, "destroying %s in the background\n", args[0])
				return nil
			}
			for {
				v, err := c.GetPod(ctx(cmd), args[0])
				if spacepods.ErrorCode(err) == spacepods.ENOTFOUND {
					fmt.Fprintf(g.stdout, "destroyed %s\n", args[0])
					return nil
				}
				if err != nil {
					return err
				}
				if v.Status == spacepods.StatusFailed {
					return spacepods.Errorf(spacepods.EINTERNAL, "destroy of %s failed: %s", args[0], v.Reason)
				}
				select {
				case <-ctx(cmd).Done():
					return ctx(cmd).Err()
				case <-time.After(300 * time.Millisecond):
				}
			}
		},
	}
	cmd.Flags().BoolVar(&wait, "wait", false, "wait until everything is gone")
	return cmd
}
