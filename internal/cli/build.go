package cli

import (
	"fmt"
	"strconv"

	"github.com/spf13/cobra"

	"github.com/spacepods/spacepods/client"
	"github.com/spacepods/spacepods/internal/spacepods"
)

func newBuildCmd(g *globals) *cobra.Command {
	cmd := &cobra.Command{Use: "build", Short: "Record and list builds (registry pushes and CI record them), or build on the server (build run)"}
	cmd.AddCommand(newBuildRecordCmd(g), newBuildListCmd(g), newBuildShowCmd(g), newBuildLatestCmd(g), newBuildPushesCmd(g))
	cmd.AddCommand(newBuildJobCmds(g)...)
	return cmd
}

func newBuildRecordCmd(g *globals) *cobra.Command {
	var b spacepods.Build
	cmd := &cobra.Command{
		Use:   "record APP --number N --image REF --sha SHA --branch BRANCH [--pr N]",
		Short: "Record a build of an app (run by CI after pushing the image)",
		Long: `Record that CI built an image of APP. Build numbers are unique per app: recording
a number twice fails with a conflict. Pods use the latest build of the default
branch (main) unless told otherwise.`,
		Example: "  spacepods build record catalog-api --number 42 --image acme/catalog-api:42 --sha 3f2c1ab --branch main",
		Args:    cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			b.App = args[0]
			out, err := g.client().RecordBuild(ctx(cmd), b)
			if err != nil {
				return err
			}
			fmt.Fprintf(g.stdout, "recorded %s build %d (%s, %s@%s)\n", out.App, out.Number, out.Image, out.Branch, short(out.GitSHA))
			return nil
		},
	}
	f := cmd.Flags()
	f.IntVar(&b.Number, "number", 0, "CI build number (unique per app)")
	f.StringVar(&b.Image, "image", "", "image reference, e.g. acme/catalog-api:42")
	f.StringVar(&b.GitSHA, "sha", "", "git commit SHA")
	f.StringVar(&b.Branch, "branch", "", "git branch")
	f.IntVar(&b.PR, "pr", 0, "pull request number, if built for one")
	for _, req := range []string{"number", "image", "sha", "branch"} {
		_ = cmd.MarkFlagRequired(req) // fails only for a flag name that does not exist
	}
	return cmd
}

func short(sha string) string {
	if len(sha) > 7 {
		return sha[:7]
	}
	return sha
}

func buildRows(bs []client.Build) [][]string {
	rows := [][]string{}
	for _, b := range bs {
		pr := "-"
		if b.PR > 0 {
			pr = "#" + strconv.Itoa(b.PR)
		}
		rows = append(rows, []string{strconv.Itoa(b.Number), b.Branch, short(b.GitSHA), pr, b.Image, b.CreatedBy, ago(b.CreatedAt)})
	}
	return rows
}

var buildHeader = []string{"NUMBER", "BRANCH", "SHA", "PR", "IMAGE", "BY", "RECORDED"}

func newBuildListCmd(g *globals) *cobra.Command {
	var branch string
	var limit int
	cmd := &cobra.Command{
		Use:   "list APP",
		Short: "List an app's builds, newest first",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			bs, err := g.client().ListBuilds(ctx(cmd), args[0], branch, limit)
			if err != nil {
				return err
			}
			return g.print(bs, func() { g.table(buildHeader, buildRows(bs)) })
		},
	}
	cmd.Flags().StringVar(&branch, "branch", "", "only builds of this branch")
	cmd.Flags().IntVar(&limit, "limit", 20, "at most this many")
	return cmd
}

func newBuildShowCmd(g *globals) *cobra.Command {
	return &cobra.Command{
		Use:   "show APP NUMBER",
		Short: "Show one build",
		Args:  cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			n, err := strconv.Atoi(args[1])
			if err != nil {
				return spacepods.Errorf(spacepods.EINVALID, "build number %q must be an integer", args[1])
			}
			b, err := g.client().GetBuild(ctx(cmd), args[0], n)
			if err != nil {
				return err
			}
			return g.print(b, func() { g.table(buildHeader, buildRows([]client.Build{b})) })
		},
	}
}

func newBuildLatestCmd(g *globals) *cobra.Command {
	var branch string
	cmd := &cobra.Command{
		Use:   "latest APP",
		Short: "Show the latest build of a branch (default main)",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			b, err := g.client().LatestBuild(ctx(cmd), args[0], branch)
			if err != nil {
				return err
			}
			return g.print(b, func() { g.table(buildHeader, buildRows([]client.Build{b})) })
		},
	}
	cmd.Flags().StringVar(&branch, "branch", "main", "branch")
	return cmd
}
