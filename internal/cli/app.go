package cli

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"

	"github.com/spf13/cobra"

	"github.com/spacepods/spacepods/client"
	"github.com/spacepods/spacepods/internal/catalog"
	"github.com/spacepods/spacepods/internal/spacepods"
)

func newAppCmd(g *globals) *cobra.Command {
	cmd := &cobra.Command{Use: "app", Short: "Register, list and show apps"}
	cmd.AddCommand(newAppRegisterCmd(g), newAppListCmd(g), newAppShowCmd(g))
	return cmd
}

func newAppRegisterCmd(g *globals) *cobra.Command {
	var file string
	cmd := &cobra.Command{
		Use:   "register -f spacepods.yaml",
		Short: "Register an app from its manifest, or update it",
		Long: `Register an app from its spacepods.yaml manifest. Registering an app that
exists updates it; every earlier version is kept (spacepods app show NAME --versions).
A seed file named by database.seed is read relative to the manifest and uploaded;
it must be inside the manifest's directory (no absolute path, no ".." out of it,
no symlink that leads out).
Errors name the manifest's line and say what to write instead (reference: docs/manifest.md).`,
		Example: "  spacepods app register -f examples/catalog-api/spacepods.yaml",
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if file == "" {
				return spacepods.Errorf(spacepods.EINVALID, "say which manifest to register: spacepods app register -f spacepods.yaml")
			}
			data, err := os.ReadFile(file)
			if err != nil {
				return spacepods.Errorf(spacepods.EINVALID, "cannot read manifest: %v", err)
			}
			seed, err := readSeed(file, data)
			if err != nil {
				return err
			}
			app, created, err := g.client().RegisterApp(ctx(cmd), data, seed)
			if err != nil {
				if spacepods.ErrorCode(err) == spacepods.EINVALID {
					return fmt.Errorf("%s is not valid:\n%s", file, spacepods.ErrorMessage(err))
				}
				return err
			}
			verb := "updated"
			if created {
				verb = "registered"
			}
			fmt.Fprintf(g.stdout, "%s app %s (version %d)\n", verb, app.Name, app.Version)
			return nil
		},
	}
	cmd.Flags().StringVarP(&file, "file", "f", "", "path to the app's spacepods.yaml")
	return cmd
}

// readSeed reads the file named by database.seed, relative to the manifest.
// A manifest that does not parse is sent as is: the server reports its
// problems with line numbers.
func readSeed(manifestPath string, data []byte) (string, error) {
	app, err := catalog.ParseManifest(data)
	if err != nil || app.Database == nil {
		return "", nil
	}
	return readSeedFile(manifestPath, app.Database.Seed)
}

// readSeedFile reads rel, the database.seed of the manifest at
// manifestPath, from inside the manifest's directory only: an absolute
// path, a ".." that leaves the directory or a symlink that points out of it
// is refused, so a manifest cannot make the CLI upload another file of the
// machine it runs on (a key, a password file) as seed SQL.
func readSeedFile(manifestPath, rel string) (string, error) {
	if rel == "" {
		return "", nil
	}
	dir := filepath.Dir(manifestPath)
	outside := func(why string) error {
		return spacepods.Errorf(spacepods.EINVALID, "database.seed names %s, %s: the seed file must be inside the manifest's directory (%s), e.g. seed: db/seed.sql", rel, why, dir)
	}
	switch {
	case filepath.IsAbs(rel):
		return "", outside("an absolute path")
	case !filepath.IsLocal(rel):
		return "", outside("which leaves the manifest's directory")
	}
	root, err := os.OpenRoot(dir)
	if err != nil {
		return "", spacepods.Errorf(spacepods.EINVALID, "cannot open the manifest's directory %s: %v", dir, err)
	}
	defer func() { _ = root.Close() }() // best-effort cleanup; nothing useful to do on failure
	// os.Root follows symlinks only while they stay inside dir.
	b, err := root.ReadFile(rel)
	if err != nil {
		if strings.Contains(err.Error(), "escapes") {
			return "", outside("a symlink to a file outside it")
		}
		return "", spacepods.Errorf(spacepods.EINVALID, "database.seed names %s, which cannot be read: %v (the path is relative to the manifest)", rel, err)
	}
	return string(b), nil
}

func newAppListCmd(g *globals) *cobra.Command {
	var after string
	var limit int
	cmd := &cobra.Command{
		Use:   "list",
		Short: "List apps by name",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			apps, err := g.client().ListApps(ctx(cmd), after, limit)
			if err != nil {
				return err
			}
			return g.print(apps, func() {
				rows := [][]string{}
				for _, a := range apps {
					db := "-"
					if a.Database != nil {
						db = a.Database.Engine
					}
					rows = append(rows, []string{a.Name, a.Kind, a.Repo, strings.Join(a.Dependencies, ","), db, strconv.Itoa(a.Version), ago(a.UpdatedAt)})
				}
				g.table([]string{"NAME", "KIND", "REPO", "DEPENDENCIES", "DATABASE", "VERSION", "UPDATED"}, rows)
				if len(apps) == limitOr(limit) {
					fmt.Fprintf(g.stderr, "(more: spacepods app list --after %s)\n", apps[len(apps)-1].Name)
				}
			})
		},
	}
	cmd.Flags().StringVar(&after, "after", "", "list apps whose names sort after this (paging)")
	cmd.Flags().IntVar(&limit, "limit", 100, "at most this many (max 1000)")
	return cmd
}

func limitOr(n int) int {
	if n <= 0 {
		return 100
	}
	return n
}

func newAppShowCmd(g *globals) *cobra.Command {
	var versions bool
	cmd := &cobra.Command{
		Use:   "show NAME",
		Short: "Show an app's manifest (or its history with --versions)",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c := g.client()
			if versions {
				vs, err := c.AppVersions(ctx(cmd), args[0])
				if err != nil {
					return err
				}
				return g.print(vs, func() {
					rows := [][]string{}
					for _, v := range vs {
						rows = append(rows, []string{strconv.Itoa(v.Version), v.CreatedBy, v.CreatedAt.Format("2006-01-02 15:04:05"), strings.Join(v.Manifest.Dependencies, ",")})
					}
					g.table([]string{"VERSION", "BY", "AT", "DEPENDENCIES"}, rows)
				})
			}
			a, err := c.GetApp(ctx(cmd), args[0])
			if err != nil {
				return err
			}
			return g.print(a, func() { printApp(g, a) })
		},
	}
	cmd.Flags().BoolVar(&versions, "versions", false, "show the registration history")
	return cmd
}

func printApp(g *globals, a client.App) {
	w := g.stdout
	fmt.Fprintf(w, "name:         %s (version %d, updated %s)\n", a.Name, a.Version, ago(a.UpdatedAt))
	fmt.Fprintf(w, "repo:         %s\n", a.Repo)
	fmt.Fprintf(w, "kind:         %s\n", a.Kind)
	if a.Kind == spacepods.KindWeb {
		fmt.Fprintf(w, "port:         %d\nhealth:       %s\n", a.Port, a.Health)
	}
	if len(a.Command) > 0 {
		fmt.Fprintf(w, "command:      %s\n", strings.Join(a.Command, " "))
	}
	if len(a.Args) > 0 {
		fmt.Fprintf(w, "args:         %s (after the image's entrypoint)\n", strings.Join(a.Args, " "))
	}
	fmt.Fprintf(w, "dependencies: %s\n", orDash(strings.Join(a.Dependencies, ", ")))
	if a.Database != nil {
		src := "empty"
		if a.Database.Seed != "" {
			src = "seed " + a.Database.Seed
		} else if a.Database.Snapshot != "" {
			src = "snapshot " + a.Database.Snapshot
		}
		fmt.Fprintf(w, "database:     %s (%s)\n", a.Database.Engine, src)
	}
	if len(a.Migrate) > 0 {
		timeout := a.MigrateTimeout
		if timeout == "" {
			timeout = spacepods.DefaultTaskTimeout.String()
		}
		fmt.Fprintf(w, "migrate:      %s (timeout %s)\n", strings.Join(a.Migrate, " "), timeout)
	}
	stages := make([]string, 0, len(a.Stages()))
	for _, s := range a.Stages() {
		stages = append(stages, strconv.Itoa(s)+"%")
	}
	fmt.Fprintf(w, "rollout:      stages %s; replicas %v\n", strings.Join(stages, "/"), a.Rollout.Replicas)
	for _, wk := range a.Workers {
		fmt.Fprintf(w, "worker:       %s: %s\n", wk.Name, strings.Join(append(slices.Clone(wk.Command), wk.Args...), " "))
	}
	for k, v := range a.Env {
		fmt.Fprintf(w, "env:          %s=%s\n", k, v)
	}
	if a.Tests != nil {
		fmt.Fprintf(w, "tests:        %s %s\n", a.Tests.Image, strings.Join(append(slices.Clone(a.Tests.Command), a.Tests.Args...), " "))
	}
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}
