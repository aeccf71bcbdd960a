package cli

import (
	"fmt"
	"io"
	"strconv"
	"strings"

	"github.com/spf13/cobra"

	"github.com/spacepods/spacepods/client"
)

func newDepsCmd(g *globals) *cobra.Command {
	return &cobra.Command{
		Use:   "deps APP",
		Short: "Print an app's dependency tree and start order",
		Long: `Print the dependency tree of APP (every app it needs, recursively) and the
order in which a pod starts them. A cycle or a missing dependency is an error
that names it.`,
		Example: "  spacepods deps storefront",
		Args:    cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			d, err := g.client().AppDeps(ctx(cmd), args[0])
			if err != nil {
				return err
			}
			return g.print(d, func() {
				renderTree(g.stdout, d.Tree, "", "")
				if d.Problem != "" {
					fmt.Fprintf(g.stdout, "\nno start order: %s\n", d.Problem)
					return
				}
				fmt.Fprintf(g.stdout, "\nstart order: %s\n", strings.Join(d.Order, " -> "))
			})
		},
	}
}

func renderTree(w io.Writer, n *client.TreeNode, prefix, childPrefix string) {
	if n == nil {
		return
	}
	label := n.Name
	if n.Repeat {
		label += " (see above)"
	}
	if n.Missing {
		label += " (not registered)"
	}
	fmt.Fprintln(w, prefix+label)
	for i, c := range n.Children {
		if i == len(n.Children)-1 {
			renderTree(w, c, childPrefix+"└── ", childPrefix+"    ")
		} else {
			renderTree(w, c, childPrefix+"├── ", childPrefix+"│   ")
		}
	}
}

func newTokenCmd(g *globals) *cobra.Command {
	cmd := &cobra.Command{Use: "token", Short: "Create, list and revoke API tokens (admins)"}
	var name, role string
	create := &cobra.Command{
		Use:     "create --name NAME --role admin|developer|viewer",
		Short:   "Create an API token; its secret is printed once",
		Example: "  spacepods token create --name ci --role developer",
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			secret, t, err := g.client().CreateToken(ctx(cmd), name, role)
			if err != nil {
				return err
			}
			if g.json() {
				return g.printJSON(map[string]any{"token": t, "secret": secret})
			}
			fmt.Fprintf(g.stderr, "created token %s (role %s); store the secret now, it is not shown again:\n", t.Name, t.Role)
			fmt.Fprintln(g.stdout, secret)
			return nil
		},
	}
	create.Flags().StringVar(&name, "name", "", "token name (who or what uses it)")
	create.Flags().StringVar(&role, "role", "developer", "admin, developer or viewer")
	_ = create.MarkFlagRequired("name") // fails only for a flag name that does not exist
	list := &cobra.Command{
		Use:   "list",
		Short: "List tokens (never their secrets)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ts, err := g.client().ListTokens(ctx(cmd))
			if err != nil {
				return err
			}
			return g.print(ts, func() {
				rows := [][]string{}
				for _, t := range ts {
					used := "never"
					if t.LastUsed != nil {
						used = ago(*t.LastUsed)
					}
					rows = append(rows, []string{t.Name, t.Role, t.CreatedBy, ago(t.CreatedAt), used})
				}
				g.table([]string{"NAME", "ROLE", "CREATED BY", "CREATED", "LAST USED"}, rows)
			})
		},
	}
	revoke := &cobra.Command{
		Use:   "revoke NAME",
		Short: "Revoke a token",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := g.client().RevokeToken(ctx(cmd), args[0]); err != nil {
				return err
			}
			fmt.Fprintf(g.stdout, "revoked token %s\n", args[0])
			return nil
		},
	}
	cmd.AddCommand(create, list, revoke)
	return cmd
}

func newAuditCmd(g *globals) *cobra.Command {
	var limit int
	var before int64
	cmd := &cobra.Command{
		Use:   "audit",
		Short: "Show the audit log: who changed what, when (admins)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			es, err := g.client().Audit(ctx(cmd), before, limit)
			if err != nil {
				return err
			}
			return g.print(es, func() {
				rows := [][]string{}
				for _, e := range es {
					rows = append(rows, []string{strconv.FormatInt(e.ID, 10), e.At.Format("2006-01-02 15:04:05"), e.Actor, e.Action, e.Target, e.Details})
				}
				g.table([]string{"ID", "AT (UTC)", "WHO", "ACTION", "TARGET", "DETAILS"}, rows)
			})
		},
	}
	cmd.Flags().IntVar(&limit, "limit", 50, "at most this many entries")
	cmd.Flags().Int64Var(&before, "before", 0, "entries older than this ID (paging)")
	var remove bool
	leaks := &cobra.Command{
		Use:   "leaks [--remove]",
		Short: "List containers, networks, databases and routes that belong to no live environment",
		Long: `List everything Spacepods made that belongs to no live environment, found from
the runtime's labels, PostgreSQL's markers and the router's table (not from the
store's memory). --remove removes them.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ls, err := g.client().Leaks(ctx(cmd), remove)
			if err != nil {
				return err
			}
			return g.print(ls, func() {
				if len(ls) == 0 {
					fmt.Fprintln(g.stdout, "no leaks: everything belongs to a live environment")
					return
				}
				rows := [][]string{}
				for _, l := range ls {
					state := "leaked"
					if l.Removed {
						state = "removed"
					}
					if l.Error != "" {
						state = "error: " + l.Error
					}
					rows = append(rows, []string{l.Kind, l.Environment, l.Name, state})
				}
				g.table([]string{"KIND", "ENVIRONMENT", "NAME", "STATE"}, rows)
			})
		},
	}
	leaks.Flags().BoolVar(&remove, "remove", false, "remove what is found")
	cmd.AddCommand(leaks)
	return cmd
}
