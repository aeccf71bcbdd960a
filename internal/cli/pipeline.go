package cli

import (
	"fmt"
	"strconv"
	"strings"

	"github.com/spf13/cobra"

	"github.com/spacepods/spacepods/client"
	"github.com/spacepods/spacepods/internal/spacepods"
)

// Pipelines: a new build on the main branch moves through the app's master
// environments by itself; these commands show runs and decide gates.

func newPipelineCmd(g *globals) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "pipeline",
		Short: "Show pipelines and their runs; approve or reject a run waiting at a gate",
		Long: `A pipeline is the ordered list of master environments a new build on the
main branch moves through by itself: the manifest's pipeline:, or the
server's --pipeline default. At each stage the build is deployed, the
Gatekeeper tests of the app and of the apps there that depend on it run,
and the same build moves on when they pass. A stage with approval: true
waits until a developer (an admin for a protected environment) approves.

  spacepods pipeline show catalog-api      # stages and latest runs
  spacepods pipeline run show 12           # one run, stage by stage
  spacepods pipeline approve 12            # let it into the next stage
  spacepods pipeline start catalog-api --build 41

See docs/pipelines.md.`,
	}
	run := &cobra.Command{Use: "run", Short: "Show one pipeline run"}
	run.AddCommand(newPipelineRunShowCmd(g))
	cmd.AddCommand(newPipelineShowCmd(g), newPipelineRunsCmd(g), run, newPipelineDecideCmd(g, true), newPipelineDecideCmd(g, false), newPipelineStartCmd(g))
	return cmd
}

func newPipelineShowCmd(g *globals) *cobra.Command {
	var limit int
	cmd := &cobra.Command{
		Use:   "show APP",
		Short: "Show an app's pipeline: its stages and its latest runs",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			v, err := g.client().Pipeline(ctx(cmd), args[0], limit)
			if err != nil {
				return err
			}
			return g.print(v, func() {
				if len(v.Stages) == 0 {
					fmt.Fprintf(g.stdout, "%s has no pipeline: add pipeline: to its manifest, or start the server with --pipeline (docs/pipelines.md)\n", v.App)
					return
				}
				fmt.Fprintf(g.stdout, "pipeline of %s (from the %s):\n", v.App, map[string]string{"manifest": "manifest", "default": "server's --pipeline"}[v.Source])
				rows := [][]string{}
				for i, st := range v.Stages {
					gate := "-"
					if st.Approval {
						gate = "approval"
						if st.ApprovalTimeout != "" {
							gate += ", rejected after " + st.ApprovalTimeout
						}
					}
					rows = append(rows, []string{strconv.Itoa(i + 1), st.Env, onOff(st.RunsTests()), gate, st.Policy()})
				}
				g.table([]string{"STAGE", "ENV", "TESTS", "GATE", "ON FAILURE"}, rows)
				if len(v.Runs) > 0 {
					fmt.Fprintln(g.stdout)
					g.printPipelineRuns(v.Runs)
				}
			})
		},
	}
	cmd.Flags().IntVar(&limit, "limit", 10, "how many of the latest runs to show")
	return cmd
}

func onOff(b bool) string {
	if b {
		return "on"
	}
	return "off"
}

func newPipelineRunsCmd(g *globals) *cobra.Command {
	var limit int
	cmd := &cobra.Command{
		Use:   "runs APP",
		Short: "List an app's pipeline runs, newest first",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			runs, err := g.client().PipelineRuns(ctx(cmd), args[0], limit)
			if err != nil {
				return err
			}
			return g.print(runs, func() { g.printPipelineRuns(runs) })
		},
	}
	cmd.Flags().IntVar(&limit, "limit", 50, "how many runs")
	return cmd
}

// printPipelineRuns prints one row per run with each stage's status.
func (g *globals) printPipelineRuns(runs []client.PipelineRun) {
	rows := [][]string{}
	for _, r := range runs {
		var stages []string
		for _, st := range r.Stages {
			stages = append(stages, st.Env+":"+st.Status)
		}
		rows = append(rows, []string{strconv.FormatInt(r.ID, 10), strconv.Itoa(r.Build), r.Status, strings.Join(stages, " "), ago(r.CreatedAt), r.Cause})
	}
	g.table([]string{"RUN", "BUILD", "STATUS", "STAGES", "STARTED", "CAUSE"}, rows)
}

func parsePipelineRunID(s string) (int64, error) {
	id, err := strconv.ParseInt(s, 10, 64)
	if err != nil || id < 1 {
		return 0, spacepods.Errorf(spacepods.EINVALID, "pipeline run %q is not a positive number: list runs with `spacepods pipeline runs APP`", s)
	}
	return id, nil
}

func newPipelineRunShowCmd(g *globals) *cobra.Command {
	return &cobra.Command{
		Use:   "show RUN",
		Short: "Show a pipeline run stage by stage: deploys, test runs, approvals",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			id, err := parsePipelineRunID(args[0])
			if err != nil {
				return err
			}
			r, err := g.client().GetPipelineRun(ctx(cmd), id)
			if err != nil {
				return err
			}
			return g.print(r, func() { g.printPipelineRun(r) })
		},
	}
}

func (g *globals) printPipelineRun(r client.PipelineRun) {
	fmt.Fprintf(g.stdout, "pipeline run %d: build %d of %s", r.ID, r.Build, r.App)
	if r.GitSHA != "" {
		fmt.Fprintf(g.stdout, " (%s)", r.GitSHA)
	}
	fmt.Fprintf(g.stdout, ": %s\nstarted %s (%s)\n", r.Status, ago(r.CreatedAt), r.Cause)
	if r.Error != "" {
		fmt.Fprintf(g.stdout, "error: %s\n", r.Error)
	}
	rows := [][]string{}
	for _, st := range r.Stages {
		dep, tests, gate := "-", "-", "-"
		if st.DeployID != 0 {
			dep = strconv.FormatInt(st.DeployID, 10)
			if st.RollbackDeployID != 0 {
				dep += fmt.Sprintf(" (rolled back by %d)", st.RollbackDeployID)
			}
		}
		if len(st.TestRuns) > 0 {
			var ids []string
			for _, id := range st.TestRuns {
				ids = append(ids, strconv.FormatInt(id, 10))
			}
			tests = strings.Join(ids, ",")
		}
		switch {
		case st.DecidedBy != "" && st.Approved:
			gate = "approved by " + st.DecidedBy + " " + ago(*st.DecidedAt)
		case st.DecidedBy != "":
			gate = "rejected by " + st.DecidedBy + " " + ago(*st.DecidedAt)
		case st.Status == spacepods.StageWaiting:
			gate = "waiting since " + ago(*st.WaitingSince)
		case st.Approval:
			gate = "approval"
		}
		rows = append(rows, []string{st.Env, st.Status, dep, tests, gate, orDash(st.Error)})
	}
	fmt.Fprintln(g.stdout)
	g.table([]string{"ENV", "STATUS", "DEPLOY", "TEST RUNS", "GATE", "NOTE"}, rows)
	if r.Status == spacepods.RunWaiting {
		fmt.Fprintf(g.stdout, "\nwaiting for approval: spacepods pipeline approve %d (or reject %d)\n", r.ID, r.ID)
	}
	fmt.Fprintf(g.stdout, "\ndeploy output: spacepods deploy show ID; test output: spacepods test log ID\n")
}

func newPipelineDecideCmd(g *globals, approve bool) *cobra.Command {
	var comment string
	verb, short := "reject", "Reject the gate a run waits at: the run ends there"
	if approve {
		verb, short = "approve", "Approve the gate a run waits at: the build goes into the next environment"
	}
	cmd := &cobra.Command{
		Use:   verb + " RUN [--comment TEXT]",
		Short: short,
		Long: short + `.
Developers decide; a gate into a protected environment takes an admin. Who
decided, when, and the comment go to the audit log.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			id, err := parsePipelineRunID(args[0])
			if err != nil {
				return err
			}
			r, err := g.client().DecidePipelineRun(ctx(cmd), id, approve, comment)
			if err != nil {
				return err
			}
			return g.print(r, func() {
				fmt.Fprintf(g.stdout, "%sd the gate of run %d into %s (build %d of %s): follow with `spacepods pipeline run show %d`\n", verb, r.ID, r.Stages[r.Stage].Env, r.Build, r.App, r.ID)
			})
		},
	}
	cmd.Flags().StringVar(&comment, "comment", "", "why (kept in the audit log)")
	return cmd
}

func newPipelineStartCmd(g *globals) *cobra.Command {
	var build int
	cmd := &cobra.Command{
		Use:   "start APP --build N",
		Short: "Start a pipeline run of a build by hand (new main builds start one by themselves)",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if build < 1 {
				return spacepods.Errorf(spacepods.EINVALID, "--build N is required: the build of %s to move through its pipeline (see `spacepods build list %s`)", args[0], args[0])
			}
			r, err := g.client().StartPipelineRun(ctx(cmd), args[0], build)
			if err != nil {
				return err
			}
			return g.print(r, func() {
				fmt.Fprintf(g.stdout, "started pipeline run %d: build %d of %s through %d stages; follow with `spacepods pipeline run show %d`\n", r.ID, r.Build, r.App, len(r.Stages), r.ID)
			})
		},
	}
	cmd.Flags().IntVar(&build, "build", 0, "the build number")
	return cmd
}

func newDeployNotesCmd(g *globals) *cobra.Command {
	return &cobra.Command{
		Use:   "notes ID",
		Short: "Print a deploy's release notes (Markdown; -o json for the data)",
		Long: `Print the release notes of a deploy, computed from the app's git history
between the commit the environment ran before and the deployed one: the
commits, their contributors (deduplicated by email, .mailmap respected), the
Jira keys they mention, Conventional Commit groups, the forge's compare link
and links to the deploy and its tests. A rollback's notes list the commits
that left. See docs/pipelines.md.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			id, err := strconv.ParseInt(args[0], 10, 64)
			if err != nil || id < 1 {
				return spacepods.Errorf(spacepods.EINVALID, "deploy ID %q is not a positive number: list deploys with `spacepods deploy list`", args[0])
			}
			if g.output == "json" {
				n, err := g.client().DeployNotes(ctx(cmd), id)
				if err != nil {
					return err
				}
				return g.print(n, nil)
			}
			md, err := g.client().DeployNotesMarkdown(ctx(cmd), id)
			if err != nil {
				return err
			}
			fmt.Fprint(g.stdout, md)
			return nil
		},
	}
}
