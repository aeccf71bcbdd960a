package cli

import (
	"fmt"
	"sort"
	"strings"

	"github.com/spf13/cobra"

	"github.com/spacepods/spacepods/client"
	"github.com/spacepods/spacepods/internal/spacepods"
)

// scopeFlags adds --env / --pods and returns a func giving the scope.
func scopeFlags(cmd *cobra.Command) func() (string, error) {
	var env string
	var podsScope bool
	cmd.Flags().StringVar(&env, "env", "", "only this environment (scope env:NAME)")
	cmd.Flags().BoolVar(&podsScope, "pods", false, "every pod (scope pods)")
	return func() (string, error) {
		switch {
		case env != "" && podsScope:
			return "", spacepods.Errorf(spacepods.EINVALID, "--env and --pods exclude each other: pick one scope")
		case env != "":
			return spacepods.EnvScope(env), nil
		case podsScope:
			return spacepods.ScopePods, nil
		}
		return "", nil
	}
}

func newConfigCmd(g *globals) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "config",
		Short: "Env vars and secrets of apps, per scope (all environments, all pods, one environment)",
		Long: `Apps get a standard set of env vars from Spacepods (SPACEPODS_ENV, SPACEPODS_APP,
SPACEPODS_BUILD, SPACEPODS_GIT_SHA, PORT, DATABASE_URL, <DEP>_URL), their
manifest's defaults, and the custom vars set here. Scopes: all environments
(no flag), all pods (--pods) or one environment (--env NAME); the most specific
wins. Secrets (--secret) live in the secret store, are write-only for
developers and are never shown in logs, events or API responses. Changes take
effect on the next deploy; 'config apply' redeploys the running build.

Only admins change the config of a protected environment (--env NAME) and,
once one exists, of all environments (no flag), which reaches it too. A secret
scoped to all, to pods or to an unprotected environment can be read by any
developer: they can start any image there (docs/secrets.md).`,
	}
	var secret, override bool
	set := &cobra.Command{
		Use:   "set APP KEY=VALUE [KEY=VALUE…] [--env ENV | --pods] [--secret]",
		Short: "Set env vars (or secrets) of an app",
		Example: `  spacepods config set catalog-api LOG_LEVEL=debug --pods
  spacepods config set catalog-api API_TOKEN=s3cr3t --env production --secret`,
		Args: cobra.MinimumNArgs(2),
	}
	setScope := scopeFlags(set)
	set.Flags().BoolVar(&secret, "secret", false, "store the values in the secret store (write-only)")
	set.Flags().BoolVar(&override, "override", false, "replace a standard var on purpose (admins; audited)")
	set.RunE = func(cmd *cobra.Command, args []string) error {
		scope, err := setScope()
		if err != nil {
			return err
		}
		vars := map[string]string{}
		for _, kv := range args[1:] {
			k, v, ok := strings.Cut(kv, "=")
			if !ok {
				return spacepods.Errorf(spacepods.EINVALID, "%q: write KEY=VALUE", kv)
			}
			vars[k] = v
		}
		out, err := g.client().SetConfig(ctx(cmd), args[0], client.SetConfigRequest{Scope: scope, Vars: vars, Secret: secret, Override: override})
		if err != nil {
			return err
		}
		for _, v := range out {
			kind := "var"
			if v.Secret {
				kind = "secret"
			}
			fmt.Fprintf(g.stdout, "set %s %s of %s in scope %s (takes effect on the next deploy)\n", kind, v.Key, v.App, v.Scope)
		}
		return nil
	}
	unset := &cobra.Command{
		Use:   "unset APP KEY [--env ENV | --pods]",
		Short: "Unset an env var or secret",
		Args:  cobra.ExactArgs(2),
	}
	unsetScope := scopeFlags(unset)
	unset.RunE = func(cmd *cobra.Command, args []string) error {
		scope, err := unsetScope()
		if err != nil {
			return err
		}
		if err := g.client().UnsetConfig(ctx(cmd), args[0], scope, args[1]); err != nil {
			return err
		}
		fmt.Fprintf(g.stdout, "unset %s of %s\n", args[1], args[0])
		return nil
	}
	var reveal bool
	list := &cobra.Command{
		Use:   "list APP [--env ENV | --pods] [--reveal]",
		Short: "List an app's custom vars; secrets as set, with who and when",
		Args:  cobra.ExactArgs(1),
	}
	listScope := scopeFlags(list)
	list.Flags().BoolVar(&reveal, "reveal", false, "show secret values (admins; audited)")
	list.RunE = func(cmd *cobra.Command, args []string) error {
		scope, err := listScope()
		if err != nil {
			return err
		}
		vs, err := g.client().ListConfig(ctx(cmd), args[0], scope, reveal)
		if err != nil {
			return err
		}
		return g.print(vs, func() {
			rows := [][]string{}
			for _, v := range vs {
				val := v.Value
				if v.Secret && !reveal {
					val = "(secret, set)"
				}
				rows = append(rows, []string{v.Scope, v.Key, val, v.UpdatedBy, ago(v.UpdatedAt)})
			}
			g.table([]string{"SCOPE", "KEY", "VALUE", "BY", "UPDATED"}, rows)
		})
	}
	var effEnv string
	effective := &cobra.Command{
		Use:   "effective APP --env ENV",
		Short: "What a deploy of APP to ENV would get (secrets masked)",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			eff, err := g.client().EffectiveConfig(ctx(cmd), args[0], effEnv)
			if err != nil {
				return err
			}
			return g.print(eff, func() {
				keys := make([]string, 0, len(eff.Vars))
				for k := range eff.Vars {
					keys = append(keys, k)
				}
				sort.Strings(keys)
				rows := [][]string{}
				for _, k := range keys {
					rows = append(rows, []string{k, eff.Vars[k], eff.Sources[k]})
				}
				for _, k := range eff.Secrets {
					rows = append(rows, []string{k, "****", eff.Sources[k]})
				}
				g.table([]string{"KEY", "VALUE", "FROM"}, rows)
			})
		},
	}
	effective.Flags().StringVar(&effEnv, "env", "", "environment or pod")
	var applyEnv string
	var wait bool
	var applyConfirm int
	apply := &cobra.Command{
		Use:   "apply APP --env ENV [--wait]",
		Short: "Redeploy the build running in ENV with the current config",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c := g.client()
			d, err := c.ApplyConfig(ctx(cmd), args[0], applyEnv, applyConfirm)
			if err != nil {
				return err
			}
			return g.afterDeploy(ctx(cmd), c, d, wait)
		},
	}
	apply.Flags().StringVar(&applyEnv, "env", "", "environment or pod")
	apply.Flags().BoolVar(&wait, "wait", false, "stream the deploy until it ends")
	confirmFlag(apply, &applyConfirm)
	cmd.AddCommand(set, unset, list, effective, apply)
	return cmd
}

func newSecretsCmd(g *globals) *cobra.Command {
	cmd := &cobra.Command{Use: "secrets", Short: "Secret store administration"}
	cmd.AddCommand(&cobra.Command{
		Use:   "rotate-key",
		Short: "Re-wrap every secret under a new master key (local store; admins)",
		Long: `With the master key in <data-dir>/secrets.key: generate a new key and re-wrap
every secret's data key with it in one transaction; the old key is kept as
<data-dir>/secrets.key.old. Values are not re-encrypted (each has its own data
key) and stay readable throughout.

With the master key in SPACEPODS_MASTER_KEY, which the server cannot change,
rotate in four steps: make a new key (head -c 32 /dev/urandom | base64);
restart the server with SPACEPODS_MASTER_KEY_PREVIOUS=<the current key> and
SPACEPODS_MASTER_KEY=<the new key>; run this command, which re-wraps every
secret under the new key; remove SPACEPODS_MASTER_KEY_PREVIOUS and restart.
Run without SPACEPODS_MASTER_KEY_PREVIOUS, it refuses and prints these steps.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			r, err := g.client().RotateSecretsKey(ctx(cmd))
			if err != nil {
				return err
			}
			fmt.Fprintf(g.stdout, "rotated the master key: every secret is now wrapped by key %s\n", r.KeyID)
			if r.Next != "" {
				fmt.Fprintf(g.stdout, "next: %s\n", r.Next)
			}
			return nil
		},
	})
	return cmd
}
