package cli

import (
	"context"
	"fmt"
	"io"
	"strconv"
	"time"

	"github.com/spf13/cobra"

	"github.com/spacepods/spacepods/client"
	"github.com/spacepods/spacepods/internal/spacepods"
)

// The built-in builder's commands: build run, build jobs, build log,
// build cancel (added to `spacepods build` by newBuildCmd).
func newBuildJobCmds(g *globals) []*cobra.Command {
	return []*cobra.Command{newBuildRunCmd(g), newBuildJobsCmd(g), newBuildLogCmd(g), newBuildCancelCmd(g)}
}

func newBuildRunCmd(g *globals) *cobra.Command {
	var ref string
	var follow bool
	cmd := &cobra.Command{
		Use:   "run APP [--ref BRANCH|TAG|SHA] [--follow]",
		Short: "Build an app's image from its git repository (the built-in builder, for repos without CI)",
		Long: `Build APP's image on the Spacepods server, for repositories without CI.

The server fetches the repository named by the manifest's build.git into a
cache in its data dir (a clone the first time, a fetch after), checks out
--ref (a branch, a tag or a commit SHA; default: the repository's default
branch), builds build.dockerfile (default: Dockerfile in build.context) with
its Docker Engine, pushes the image to its registry as
<registry>/<app>:<build number>, and records the build with the commit's SHA,
branch, author and message. Pods and deploys can then use it like any build
CI records.

Builds wait in a queue and run a few at a time (the server's
--build-concurrency, default 1). A build that fails (bad ref, Dockerfile
error, push error) records no build: its job keeps the log and the reason.

Without --follow the command returns once the job is queued; watch it with
` + "`spacepods build log JOB -f`" + ` or on the app's page in the web UI. With --follow it
shows the queue position, then the build's steps and the push as they
happen, and exits non-zero if the build fails.`,
		Example: `  spacepods build run catalog-api --follow
  spacepods build run catalog-api --ref feature/search
  spacepods build run catalog-api --ref 3f2c1ab --follow`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c := g.client()
			j, err := c.RunBuild(ctx(cmd), args[0], ref)
			if err != nil {
				return err
			}
			if !follow {
				return g.print(j, func() {
					fmt.Fprintf(g.stdout, "queued build job %d of %s (%s), position %d in the queue\nfollow it: spacepods build log %d -f\n", j.ID, j.App, refName(j.Ref), j.QueuePosition, j.ID)
				})
			}
			return g.followBuildJob(ctx(cmd), c, j)
		},
	}
	cmd.Flags().StringVar(&ref, "ref", "", "branch, tag or commit SHA to build (default: the repository's default branch)")
	cmd.Flags().BoolVarP(&follow, "follow", "f", false, "show the queue position and the build's log until it ends; exit non-zero if it fails")
	return cmd
}

func refName(ref string) string {
	if ref == "" {
		return "default branch"
	}
	return ref
}

// followBuildJob shows a job's queue position while it waits, then its log
// as it runs, then how it ended; an error when it did not succeed.
func (g *globals) followBuildJob(ctx context.Context, c *client.Client, j client.BuildJob) error {
	progress := g.stdout
	if g.json() {
		progress = g.stderr // the JSON of the job comes last, on stdout
	}
	fmt.Fprintf(progress, "build job %d of %s (%s)\n", j.ID, j.App, refName(j.Ref))
	lastPos := -1
	for j.Status == spacepods.JobQueued {
		if j.QueuePosition != lastPos {
			fmt.Fprintf(progress, "queued: position %d\n", j.QueuePosition)
			lastPos = j.QueuePosition
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(time.Second):
		}
		var err error
		if j, err = c.GetBuildJob(ctx, j.ID); err != nil {
			return err
		}
	}
	rc, err := c.BuildJobLog(ctx, j.ID, 0, true)
	if err != nil {
		return err
	}
	_, err = io.Copy(progress, rc)
	_ = rc.Close() // read to the end
	if err != nil {
		return fmt.Errorf("the log stream broke: %w (follow it again with `spacepods build log %d -f`)", err, j.ID)
	}
	if j, err = c.GetBuildJob(ctx, j.ID); err != nil {
		return err
	}
	if g.json() {
		if err := g.printJSON(j); err != nil {
			return err
		}
	}
	switch j.Status {
	case spacepods.JobSucceeded:
		if !g.json() {
			fmt.Fprintf(g.stdout, "build %d of %s recorded: %s (%s@%s)\n", j.BuildNumber, j.App, j.Image, j.Branch, short(j.SHA))
		}
		return nil
	case spacepods.JobQueued, spacepods.JobRunning:
		return spacepods.Errorf(spacepods.EUNAVAILABLE, "build job %d is still %s (the server may be shutting down): follow it with `spacepods build log %d -f`", j.ID, j.Status, j.ID)
	}
	return spacepods.Errorf(spacepods.EINVALID, "build job %d %s: %s (the log: spacepods build log %d)", j.ID, j.Status, j.Error, j.ID)
}

var buildJobHeader = []string{"JOB", "STATUS", "REF", "BRANCH", "SHA", "BUILD", "BY", "QUEUED", "TOOK"}

func buildJobRows(js []client.BuildJob) [][]string {
	rows := [][]string{}
	for _, j := range js {
		status, build, took := j.Status, "-", "-"
		if j.QueuePosition > 0 {
			status += " #" + strconv.Itoa(j.QueuePosition)
		}
		if j.BuildNumber > 0 {
			build = strconv.Itoa(j.BuildNumber)
		}
		if j.StartedAt != nil && j.FinishedAt != nil {
			took = j.FinishedAt.Sub(*j.StartedAt).Round(100 * time.Millisecond).String()
		}
		ref := j.Ref
		if ref == "" {
			ref = "(default)"
		}
		rows = append(rows, []string{strconv.FormatInt(j.ID, 10), status, ref, dash(j.Branch), dash(short(j.SHA)), build, j.CreatedBy, ago(j.CreatedAt), took})
	}
	return rows
}

func dash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

func newBuildJobsCmd(g *globals) *cobra.Command {
	var limit int
	cmd := &cobra.Command{
		Use:   "jobs APP",
		Short: "List an app's build jobs (the built-in builder), newest first",
		Long: `List the jobs of the built-in builder for APP, newest first: their status
(queued with their position, running, succeeded, failed, canceled), the ref
asked for and the commit it resolved to, and the build a succeeded job
recorded. See a job's log with ` + "`spacepods build log JOB`" + `.`,
		Example: "  spacepods build jobs catalog-api",
		Args:    cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			js, err := g.client().ListBuildJobs(ctx(cmd), args[0], limit)
			if err != nil {
				return err
			}
			return g.print(js, func() { g.table(buildJobHeader, buildJobRows(js)) })
		},
	}
	cmd.Flags().IntVar(&limit, "limit", 20, "at most this many")
	return cmd
}

func jobArg(s string) (int64, error) {
	id, err := strconv.ParseInt(s, 10, 64)
	if err != nil || id < 1 {
		return 0, spacepods.Errorf(spacepods.EINVALID, "build job %q must be a job number, as `spacepods build jobs APP` lists them", s)
	}
	return id, nil
}

func newBuildLogCmd(g *globals) *cobra.Command {
	var follow bool
	cmd := &cobra.Command{
		Use:   "log JOB [-f]",
		Short: "Print a build job's log (git fetch, Docker build steps, push)",
		Long: `Print the log of build job JOB: the fetch, each Docker build step's output,
the push, and why it failed if it did. Logs are kept after the job ends.
With -f (--follow) it waits for a queued job and streams a running one
until it ends; the exit status is then non-zero if the build failed.`,
		Example: `  spacepods build log 12
  spacepods build log 12 -f`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			id, err := jobArg(args[0])
			if err != nil {
				return err
			}
			c := g.client()
			if follow {
				j, err := c.GetBuildJob(ctx(cmd), id)
				if err != nil {
					return err
				}
				return g.followBuildJob(ctx(cmd), c, j)
			}
			rc, err := c.BuildJobLog(ctx(cmd), id, 0, false)
			if err != nil {
				return err
			}
			defer func() { _ = rc.Close() }() // read to the end
			_, err = io.Copy(g.stdout, rc)
			return err
		},
	}
	cmd.Flags().BoolVarP(&follow, "follow", "f", false, "stream the log until the job ends")
	return cmd
}

func newBuildCancelCmd(g *globals) *cobra.Command {
	return &cobra.Command{
		Use:   "cancel JOB",
		Short: "Cancel a queued or running build job (it records no build)",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			id, err := jobArg(args[0])
			if err != nil {
				return err
			}
			j, err := g.client().CancelBuildJob(ctx(cmd), id)
			if err != nil {
				return err
			}
			return g.print(j, func() { fmt.Fprintf(g.stdout, "build job %d: %s\n", j.ID, j.Status) })
		},
	}
}
