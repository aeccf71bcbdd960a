package cli

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/spacepods/spacepods/client"
	"github.com/spacepods/spacepods/internal/spacepods"
)

func newEnvCmd(g *globals) *cobra.Command {
	cmd := &cobra.Command{Use: "env", Short: "Master environments (qa, staging, production)"}
	var protected bool
	create := &cobra.Command{
		Use:     "create NAME [--protected]",
		Short:   "Create a master environment (admins); protected: only admins may deploy there",
		Example: "  spacepods env create production --protected",
		Args:    cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			e, err := g.client().CreateEnvironment(ctx(cmd), args[0], protected)
			if err != nil {
				return err
			}
			fmt.Fprintf(g.stdout, "created master environment %s (protected: %v)\n", e.Name, e.Protected)
			return nil
		},
	}
	create.Flags().BoolVar(&protected, "protected", false, "only admins may deploy")
	list := &cobra.Command{
		Use:   "list",
		Short: "List master environments",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			es, err := g.client().ListEnvironments(ctx(cmd))
			if err != nil {
				return err
			}
			return g.print(es, func() { g.envTable(es) })
		},
	}
	show := &cobra.Command{
		Use:   "show NAME",
		Short: "Show what runs in a master environment",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			v, err := g.client().GetEnvironment(ctx(cmd), args[0])
			if err != nil {
				return err
			}
			return g.print(v, func() {
				fmt.Fprintf(g.stdout, "environment %s: %s (protected: %v)\n\n", v.Name, v.Status, v.Protected)
				g.printPodApps(v)
			})
		},
	}
	destroy := &cobra.Command{
		Use:   "destroy NAME",
		Short: "Destroy a master environment: routes, containers, network, databases (admins)",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := g.client().DestroyPod(ctx(cmd), args[0]); err != nil {
				return err
			}
			fmt.Fprintf(g.stdout, "destroying %s in the background (spacepods env list shows when it is gone)\n", args[0])
			return nil
		},
	}
	cmd.AddCommand(create, list, show, destroy)
	return cmd
}

// confirmFlag adds the flag with which an admin confirms the manifest
// changes a protected environment's deploy plan shows.
func confirmFlag(cmd *cobra.Command, v *int) {
	cmd.Flags().IntVar(v, strings.TrimPrefix(spacepods.ConfirmFlag, "--"), 0, "admins: confirm the manifest changes the deploy's plan shows, naming its manifest version (a protected environment needs it when the manifest changes what runs)")
}

func newDeployCmd(g *globals) *cobra.Command {
	var env string
	var build int
	var wait, plan bool
	var confirm int
	cmd := &cobra.Command{
		Use:   "deploy APP --env ENV --build N [--plan] [--confirm-manifest-change VERSION] [--wait]",
		Short: "Deploy a build to a master environment (zero downtime, automatic rollback)",
		Long: `Deploy a build of APP to a master environment through the five-step deploy
script: clear stale services, register a release, run migrations, create the
new service and its routing, then roll out in stages (default 25/50/100%)
while watching health and the router's error rate. On any failure the old
release keeps serving and the deploy is marked rolled back with the failing
output kept. Deploys of one (environment, app) run one at a time, in order.

--plan shows what the deploy would change without deploying: the manifest
fields that differ from the live release's and who registered them. In a
protected environment a change to what runs (command, migrate, workers,
tests, database, env, port, dependencies...) is deployed only when an admin
confirms it with --confirm-manifest-change VERSION, the manifest version the
plan shows.`,
		Example: `  spacepods deploy storefront --env production --build 42 --wait
  spacepods deploy storefront --env production --build 43 --plan
  spacepods deploy storefront --env production --build 43 --confirm-manifest-change 7 --wait
  spacepods deploy show 17
  spacepods deploy list --env production --app storefront`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if env == "" || build == 0 {
				return spacepods.Errorf(spacepods.EINVALID, "say where and what: spacepods deploy %s --env ENV --build N", args[0])
			}
			c := g.client()
			req := client.DeployRequest{Env: env, App: args[0], Build: build, ConfirmManifestVersion: confirm}
			if plan {
				p, err := c.PlanDeploy(ctx(cmd), req)
				if err != nil {
					return err
				}
				return g.print(p, func() { fmt.Fprint(g.stdout, p.String()) })
			}
			d, err := c.SubmitDeploy(ctx(cmd), req)
			if err != nil {
				return err
			}
			return g.afterDeploy(ctx(cmd), c, d, wait)
		},
	}
	cmd.Flags().StringVar(&env, "env", "", "master environment")
	cmd.Flags().IntVar(&build, "build", 0, "build number")
	cmd.Flags().BoolVar(&plan, "plan", false, "show what the deploy would change (manifest diff, who registered it) without deploying")
	confirmFlag(cmd, &confirm)
	cmd.Flags().BoolVar(&wait, "wait", false, "stream the steps (and a running migration's elapsed time and output) until the deploy ends (exit 1 unless completed)")

	var listEnv, listApp string
	var limit int
	list := &cobra.Command{
		Use:   "list [--env ENV] [--app APP]",
		Short: "List deploys, newest first",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ds, err := g.client().ListDeploys(ctx(cmd), listEnv, listApp, limit)
			if err != nil {
				return err
			}
			return g.print(ds, func() {
				rows := [][]string{}
				for _, d := range ds {
					rows = append(rows, []string{strconv.FormatInt(d.ID, 10), d.Env, d.App, strconv.Itoa(d.Build), strconv.Itoa(d.Release), d.Status, d.Step, d.CreatedBy, ago(d.CreatedAt)})
				}
				g.table([]string{"ID", "ENV", "APP", "BUILD", "RELEASE", "STATUS", "STEP", "BY", "CREATED"}, rows)
			})
		},
	}
	list.Flags().StringVar(&listEnv, "env", "", "only this environment")
	list.Flags().StringVar(&listApp, "app", "", "only this app")
	list.Flags().IntVar(&limit, "limit", 20, "at most this many")
	show := &cobra.Command{
		Use:   "show ID",
		Short: "Show a deploy: the five steps as a timeline, events, failure output",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			id, err := strconv.ParseInt(args[0], 10, 64)
			if err != nil {
				return spacepods.Errorf(spacepods.EINVALID, "deploy id %q must be a number (see `spacepods deploy list`)", args[0])
			}
			c := g.client()
			d, err := c.GetDeploy(ctx(cmd), id)
			if err != nil {
				return err
			}
			if g.json() {
				return g.printJSON(d)
			}
			evs, err := c.DeployEvents(ctx(cmd), id, 0)
			if err != nil {
				return err
			}
			g.printDeploy(d, evs)
			return nil
		},
	}
	cmd.AddCommand(list, show, newDeployNotesCmd(g))
	return cmd
}

func (g *globals) printDeploy(d client.Deploy, evs []client.Event) {
	w := g.stdout
	fmt.Fprintf(w, "deploy %d: %s build %d to %s — %s\n", d.ID, d.App, d.Build, d.Env, d.Status)
	if d.Release > 0 {
		fmt.Fprintf(w, "release %d (from %d), by %s, %s\n", d.Release, d.FromRelease, d.CreatedBy, ago(d.CreatedAt))
	}
	if d.ConfirmedBy != "" {
		fmt.Fprintf(w, "manifest version %d, its changes to what runs confirmed by %s\n", d.ManifestVersion, d.ConfirmedBy)
	}
	fmt.Fprintln(w)
	for i, s := range d.Steps {
		dur := ""
		if s.StartedAt != nil && s.EndedAt != nil {
			dur = s.EndedAt.Sub(*s.StartedAt).Round(10 * time.Millisecond).String()
		}
		fmt.Fprintf(w, "  %d. %-17s %-8s %8s  %s\n", i+1, s.Name, s.Status, dur, s.Detail)
	}
	if d.Error != "" {
		fmt.Fprintf(w, "\nerror: %s\n", d.Error)
	}
	if d.Output != "" {
		fmt.Fprintf(w, "\noutput kept from the failure:\n%s\n", d.Output)
	}
	if d.OutputHidden {
		fmt.Fprintln(w, "\noutput kept from the failure: hidden (it needs a developer or admin token: task output often carries connection strings)")
	}
	if len(evs) > 0 {
		fmt.Fprintln(w, "\nevents:")
		for _, e := range evs {
			fmt.Fprintf(w, "  %s  %-5s %s\n", e.At.Local().Format("15:04:05.000"), e.Level, e.Line())
		}
	}
}

// afterDeploy prints a queued deploy, or with wait streams its events
// until it ends.
func (g *globals) afterDeploy(ctx context.Context, c *client.Client, d client.Deploy, wait bool) error {
	if !wait {
		if g.json() {
			return g.printJSON(d)
		}
		fmt.Fprintf(g.stdout, "deploy %d queued: follow with `spacepods deploy show %d`\n", d.ID, d.ID)
		return nil
	}
	var after int64
	for {
		evs, err := c.DeployEvents(ctx, d.ID, after)
		if err != nil {
			return err
		}
		for _, e := range evs {
			after = e.ID
			fmt.Fprintf(g.stdout, "%s  %s\n", e.At.Local().Format("15:04:05.000"), e.Line())
		}
		d, err = c.GetDeploy(ctx, d.ID)
		if err != nil {
			return err
		}
		if d.Done() {
			fmt.Fprintln(g.stdout)
			g.printDeploy(d, nil)
			if d.Status != spacepods.DeployCompleted {
				return spacepods.Errorf(spacepods.EINVALID, "deploy %d %s: %s", d.ID, d.Status, d.Error)
			}
			return nil
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(400 * time.Millisecond):
		}
	}
}

func newRollbackCmd(g *globals) *cobra.Command {
	var env string
	var wait bool
	cmd := &cobra.Command{
		Use:     "rollback APP --env ENV [--wait]",
		Short:   "Redeploy the previous release of an app (same artifact and config)",
		Example: "  spacepods rollback storefront --env production --wait",
		Args:    cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c := g.client()
			d, err := c.Rollback(ctx(cmd), env, args[0])
			if err != nil {
				return err
			}
			return g.afterDeploy(ctx(cmd), c, d, wait)
		},
	}
	cmd.Flags().StringVar(&env, "env", "", "master environment")
	cmd.Flags().BoolVar(&wait, "wait", false, "stream the steps until it ends")
	return cmd
}

func newPromoteCmd(g *globals) *cobra.Command {
	var from, to string
	var wait bool
	var confirm int
	cmd := &cobra.Command{
		Use:     "promote APP --from ENV --to ENV [--wait]",
		Short:   "Deploy to one environment exactly the build running in another",
		Example: "  spacepods promote storefront --from staging --to production --wait",
		Args:    cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c := g.client()
			d, err := c.Promote(ctx(cmd), args[0], from, to, confirm)
			if err != nil {
				return err
			}
			return g.afterDeploy(ctx(cmd), c, d, wait)
		},
	}
	cmd.Flags().StringVar(&from, "from", "", "source environment")
	cmd.Flags().StringVar(&to, "to", "", "target environment")
	cmd.Flags().BoolVar(&wait, "wait", false, "stream the steps until it ends")
	confirmFlag(cmd, &confirm)
	return cmd
}

func newSnapshotCmd(g *globals) *cobra.Command {
	cmd := &cobra.Command{Use: "snapshot", Short: "Database snapshots: take one from an environment, clone it into pods"}
	create := &cobra.Command{
		Use:   "create ENV APP NAME",
		Short: "Snapshot APP's database in ENV as NAME (pods clone it with database.snapshot: NAME); of a protected ENV: admins, cloned only into protected environments",
		Long: `Snapshot APP's database in ENV as NAME. Pods whose manifest says database.snapshot: NAME
get a copy of it.

Where it is taken depends on the server's --databases mode: on the PostgreSQL server
(shared, the default: a template database), or, with rds-instance, when ENV is a master
whose APP has an RDS instance of its own, as an RDS DB snapshot of that instance
(CreateDBSnapshot, waited on until available; its progress is in ENV's events, and a
pod cloning it gets an RDS instance of its own; docs/aws.md).

A snapshot of a protected ENV is taken by admins only and cloned only into protected
environments.`,
		Args: cobra.ExactArgs(3),
		RunE: func(cmd *cobra.Command, args []string) error {
			s, err := g.client().CreateSnapshot(ctx(cmd), args[0], args[1], args[2])
			if err != nil {
				return err
			}
			if g.json() {
				return g.printJSON(s)
			}
			if s.Kind == spacepods.SnapshotRDS {
				fmt.Fprintf(g.stdout, "snapshot %s taken of %s in %s: RDS snapshot %s of its instance\n", args[2], args[1], args[0], s.Database)
				return nil
			}
			fmt.Fprintf(g.stdout, "snapshot %s taken of %s in %s\n", args[2], args[1], args[0])
			return nil
		},
	}
	list := &cobra.Command{
		Use:   "list",
		Short: "List snapshots",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ss, err := g.client().ListSnapshots(ctx(cmd))
			if err != nil {
				return err
			}
			return g.printJSON(ss)
		},
	}
	cmd.AddCommand(create, list)
	return cmd
}
