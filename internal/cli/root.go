// Package cli holds the spacepods command tree (cobra), one file per
// command group. Every command but `server` and `router` talks to the
// server through the public client package.
package cli

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/spacepods/spacepods/client"
	"github.com/spacepods/spacepods/internal/spacepods"
)

// Version is set at build time.
var Version = "dev"

type globals struct {
	server  string
	token   string
	dataDir string
	output  string
	stdout  io.Writer
	stderr  io.Writer
}

func envOr(key, def string) string {
	if v := os.Getenv(key); v != "" {
		return v
	}
	return def
}

// NewRoot builds the command tree, printing to the process's stdout and
// stderr.
func NewRoot() *cobra.Command { return newRoot(os.Stdout, os.Stderr) }

// newRoot builds the command tree printing to stdout and stderr (tests
// read them).
func newRoot(stdout, stderr io.Writer) *cobra.Command {
	g := &globals{stdout: stdout, stderr: stderr}
	root := &cobra.Command{
		Use:   "spacepods",
		Short: "Production-like environments on demand, and safe deploys",
		Long: `Spacepods is a control plane for apps and their environments.

Engineers register apps (spacepods.yaml) and their dependencies, CI records
builds, and anyone can create a pod: an isolated, production-like environment
with the apps they asked for plus everything those depend on, with its own
databases, routing and config. The same deploy engine ships builds to the
long-lived master environments (qa, staging, production) with zero downtime.

Start here:
  spacepods server                          run the control plane (API on 127.0.0.1:7070)
  spacepods app register -f spacepods.yaml  register an app
  spacepods build record APP --number 1 --image REF --sha SHA --branch main
  spacepods deps APP                        see what an app needs

The CLI finds the server in SPACEPODS_SERVER (default http://127.0.0.1:7070)
and its token in SPACEPODS_TOKEN (default: <data-dir>/admin.token when it is
readable, which is the case on the server's own machine).`,
		SilenceUsage:  true,
		SilenceErrors: true,
		Version:       Version,
	}
	root.SetOut(stdout)
	root.SetErr(stderr)
	pf := root.PersistentFlags()
	pf.StringVar(&g.server, "server", envOr("SPACEPODS_SERVER", "http://127.0.0.1:7070"), "server URL (env SPACEPODS_SERVER)")
	pf.StringVar(&g.token, "token", "", "API token (env SPACEPODS_TOKEN; default: <data-dir>/admin.token)")
	pf.StringVar(&g.dataDir, "data-dir", envOr("SPACEPODS_DATA_DIR", "./.spacepods"), "data directory (env SPACEPODS_DATA_DIR)")
	pf.StringVarP(&g.output, "output", "o", "table", "output format of read commands: table or json")

	root.AddCommand(
		newServerCmd(g),
		newRouterCmd(g),
		newPodCmd(g),
		newEnvCmd(g),
		newDeployCmd(g),
		newSnapshotCmd(g),
		newRollbackCmd(g),
		newConfigCmd(g),
		newSecretsCmd(g),
		newPromoteCmd(g),
		newAppCmd(g),
		newDepsCmd(g),
		newBuildCmd(g),
		newTokenCmd(g),
		newAuditCmd(g),
		newTestCmd(g),
		newSlackCmd(g),
		newNotificationsCmd(g),
		newPipelineCmd(g),
	)
	return root
}

// Execute runs the CLI and returns the process exit code.
func Execute() int {
	root := NewRoot()
	if err := root.Execute(); err != nil {
		fmt.Fprintln(os.Stderr, "error:", userMessage(err))
		return 1
	}
	return 0
}

// userMessage turns an error into one line a user can act on.
func userMessage(err error) string {
	if c := spacepods.ErrorCode(err); c != spacepods.EINTERNAL {
		return spacepods.ErrorMessage(err)
	}
	return err.Error()
}

// client returns an API client from flags, env and the token file.
func (g *globals) client() *client.Client {
	tok := g.token
	if tok == "" {
		tok = os.Getenv("SPACEPODS_TOKEN")
	}
	if tok == "" {
		if b, err := os.ReadFile(filepath.Join(g.dataDir, "admin.token")); err == nil {
			tok = strings.TrimSpace(string(b))
		}
	}
	return client.New(g.server, tok)
}

func (g *globals) json() bool { return g.output == "json" }

// printJSON writes v as indented JSON.
func (g *globals) printJSON(v any) error {
	enc := json.NewEncoder(g.stdout)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

// table writes rows aligned in columns.
func (g *globals) table(header []string, rows [][]string) {
	tw := tabwriter.NewWriter(g.stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, strings.Join(header, "\t"))
	for _, r := range rows {
		fmt.Fprintln(tw, strings.Join(r, "\t"))
	}
	_ = tw.Flush() // the reader went away; nothing left to report to
}

// output prints v as JSON with -o json, or calls tableFn.
func (g *globals) print(v any, tableFn func()) error {
	switch g.output {
	case "json":
		return g.printJSON(v)
	case "table", "":
		tableFn()
		return nil
	}
	return spacepods.Errorf(spacepods.EINVALID, "unknown output format %q: use -o table or -o json", g.output)
}

func ctx(cmd *cobra.Command) context.Context { return cmd.Context() }

// ago renders a time as a short age.
func ago(t time.Time) string {
	if t.IsZero() {
		return "-"
	}
	d := time.Since(t)
	switch {
	case d < time.Minute:
		return fmt.Sprintf("%ds ago", int(d.Seconds()))
	case d < time.Hour:
		return fmt.Sprintf("%dm ago", int(d.Minutes()))
	case d < 48*time.Hour:
		return fmt.Sprintf("%dh ago", int(d.Hours()))
	}
	return fmt.Sprintf("%dd ago", int(d.Hours()/24))
}
