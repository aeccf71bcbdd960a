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

// Gatekeeper test runs: `spacepods pod test` starts them, `spacepods test`
// shows them.

func newPodTestCmd(g *globals) *cobra.Command {
	var app string
	var wait bool
	cmd := &cobra.Command{
		Use:   "test NAME [--app APP] [--wait]",
		Short: "Run the Gatekeeper tests (the manifest's tests:) against a ready pod",
		Long: `Run the integration tests of an app against a pod (or any ready environment):
the app's manifest tests: image runs as a one-off task on the pod's network,
with <APP>_URL for every app of the pod and SPACEPODS_ENV, SPACEPODS_APP,
SPACEPODS_BUILD and SPACEPODS_GIT_SHA in its env. The tests of the pod's apps
that depend on APP run too. Without --app, every app of the pod that declares
tests runs its suite.

With --wait it waits for the results, prints them with the last lines of any
failed run, and exits non-zero when a suite failed.

  spacepods pod test alice --app catalog-api --wait
  spacepods test show 12      # one run
  spacepods test log 12       # its whole output`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c := g.client()
			runs, err := c.RunTests(ctx(cmd), args[0], app)
			if err != nil {
				return err
			}
			if !wait {
				return g.print(runs, func() {
					g.printTestRuns(runs)
					fmt.Fprintf(g.stdout, "\nfollow: spacepods test show ID; output: spacepods test log ID\n")
				})
			}
			runs, err = waitTestRuns(ctx(cmd), c, runs)
			if err != nil {
				return err
			}
			perr := g.print(runs, func() {
				g.printTestRuns(runs)
				for _, r := range runs {
					if r.Status != spacepods.TestPassed {
						fmt.Fprintf(g.stdout, "\n%s (run %d) %s:\n%s\n", r.App, r.ID, r.Status, indent(orDash(r.Error+"\n"+r.LogTail)))
					}
				}
			})
			if perr != nil {
				return perr
			}
			var bad []string
			for _, r := range runs {
				if r.Status != spacepods.TestPassed {
					bad = append(bad, fmt.Sprintf("%s (run %d: %s)", r.App, r.ID, r.Status))
				}
			}
			if len(bad) > 0 {
				return spacepods.Errorf(spacepods.EINVALID, "tests failed: %s; see `spacepods test log ID`", strings.Join(bad, ", "))
			}
			return nil
		},
	}
	cmd.Flags().StringVar(&app, "app", "", "the app whose tests run (with the tests of the pod's apps that depend on it); default: every app that declares tests")
	cmd.Flags().BoolVar(&wait, "wait", false, "wait for the results; exit non-zero if a suite failed")
	return cmd
}

func waitTestRuns(ctx context.Context, c *client.Client, runs []client.TestRun) ([]client.TestRun, error) {
	for {
		done := true
		for i := range runs {
			if runs[i].Done() {
				continue
			}
			r, err := c.GetTestRun(ctx, runs[i].ID)
			if err != nil {
				return runs, err
			}
			runs[i] = r
			done = done && r.Done()
		}
		if done {
			return runs, nil
		}
		select {
		case <-ctx.Done():
			return runs, ctx.Err()
		case <-time.After(500 * time.Millisecond):
		}
	}
}

func (g *globals) printTestRuns(runs []client.TestRun) {
	rows := [][]string{}
	for _, r := range runs {
		dur := "-"
		if r.Ended != nil {
			dur = fmt.Sprintf("%.1fs", r.Duration)
		}
		exit := "-"
		if r.Ended != nil && r.Status != spacepods.TestError {
			exit = strconv.Itoa(r.ExitCode)
		}
		rows = append(rows, []string{strconv.FormatInt(r.ID, 10), r.Env, r.App, strconv.Itoa(r.Build), r.Status, exit, dur, r.Trigger})
	}
	g.table([]string{"ID", "ENV", "APP", "BUILD", "STATUS", "EXIT", "DURATION", "TRIGGER"}, rows)
}

func indent(s string) string {
	s = strings.TrimSpace(s)
	return "  " + strings.ReplaceAll(s, "\n", "\n  ")
}

func newTestCmd(g *globals) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "test",
		Short: "Show Gatekeeper test runs and their output",
		Long: `Gatekeeper test runs are the manifest's tests: run against a pod or
environment: by ` + "`spacepods pod test`" + `, or by Spacepods itself for a pull request's
CI pod. Each run keeps its exit code, duration, last lines and whole output.`,
	}
	cmd.AddCommand(newTestShowCmd(g), newTestLogCmd(g), newTestListCmd(g))
	return cmd
}

func parseRunID(s string) (int64, error) {
	id, err := strconv.ParseInt(s, 10, 64)
	if err != nil || id < 1 {
		return 0, spacepods.Errorf(spacepods.EINVALID, "test run ID %q is not a positive number: list runs with `spacepods test list ENV`", s)
	}
	return id, nil
}

func newTestShowCmd(g *globals) *cobra.Command {
	return &cobra.Command{
		Use:   "show ID",
		Short: "Show a test run: status, exit code, duration and its last lines",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			id, err := parseRunID(args[0])
			if err != nil {
				return err
			}
			r, err := g.client().GetTestRun(ctx(cmd), id)
			if err != nil {
				return err
			}
			return g.print(r, func() {
				fmt.Fprintf(g.stdout, "test run %d: tests of %s in %s (build %d", r.ID, r.App, r.Env, r.Build)
				if r.GitSHA != "" {
					fmt.Fprintf(g.stdout, ", %s", r.GitSHA)
				}
				fmt.Fprintf(g.stdout, "): %s\nimage %s, started %s by %s (%s)\n", r.Status, r.Image, ago(r.Started), orDash(r.By), orDash(r.Trigger))
				if r.Ended != nil {
					fmt.Fprintf(g.stdout, "exit code %d after %.1fs\n", r.ExitCode, r.Duration)
				}
				if r.Error != "" {
					fmt.Fprintf(g.stdout, "error: %s\n", r.Error)
				}
				if r.LogTail != "" {
					fmt.Fprintf(g.stdout, "\nlast lines:\n%s\n", indent(r.LogTail))
				}
				fmt.Fprintf(g.stdout, "\nwhole output: spacepods test log %d\n", r.ID)
			})
		},
	}
}

func newTestLogCmd(g *globals) *cobra.Command {
	return &cobra.Command{
		Use:   "log ID",
		Short: "Print a test run's whole output",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			id, err := parseRunID(args[0])
			if err != nil {
				return err
			}
			log, err := g.client().TestLog(ctx(cmd), id)
			if err != nil {
				return err
			}
			fmt.Fprint(g.stdout, log)
			return nil
		},
	}
}

func newTestListCmd(g *globals) *cobra.Command {
	var app string
	var limit int
	cmd := &cobra.Command{
		Use:   "list ENV [--app APP]",
		Short: "List the test runs of a pod or environment, newest first",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			runs, err := g.client().ListTestRuns(ctx(cmd), args[0], app, limit)
			if err != nil {
				return err
			}
			return g.print(runs, func() { g.printTestRuns(runs) })
		},
	}
	cmd.Flags().StringVar(&app, "app", "", "only this app's runs")
	cmd.Flags().IntVar(&limit, "limit", 20, "how many runs")
	return cmd
}
