package cli

import (
	"context"
	"log/slog"
	"os"
	"slices"
	"strings"
	"sync"

	"github.com/spf13/cobra"

	"github.com/spacepods/spacepods/internal/auth"
	"github.com/spacepods/spacepods/internal/forge"
	_ "github.com/spacepods/spacepods/internal/forge/gitea"  // registers --forge gitea
	_ "github.com/spacepods/spacepods/internal/forge/github" // registers --forge github
	"github.com/spacepods/spacepods/internal/forgebuild"
	"github.com/spacepods/spacepods/internal/previews"
	"github.com/spacepods/spacepods/internal/server"
	"github.com/spacepods/spacepods/internal/spacepods"
	"github.com/spacepods/spacepods/internal/store"
)

// forgeConfig is the code forge's flags. Secrets (the token, the webhook
// secret, the GitHub App key) come from files or the environment, never
// from a flag value that `ps` would show.
type forgeConfig struct {
	kind, url             string
	tokenFile, secretFile string
	appID, installationID int64
	appKeyFile            string
	// publicURL is where people reach this server's web UI: the target
	// URLs of commit statuses and the links in PR comments start with it.
	publicURL string
	// podPrefix goes before the name of every pull request pod, so that
	// installations sharing a Docker host do not collide.
	podPrefix     string
	token, secret string // read by load
	appKey        []byte
}

func (fc *forgeConfig) flags(cmd *cobra.Command) {
	f := cmd.Flags()
	f.StringVar(&fc.kind, "forge", envOr("SPACEPODS_FORGE", ""), "code forge of the apps' repositories: "+strings.Join(forge.Kinds(), " or ")+"; empty = none (env SPACEPODS_FORGE)")
	f.StringVar(&fc.publicURL, "public-url", envOr("SPACEPODS_PUBLIC_URL", ""), "where people reach this server's web UI (links on pull requests); empty = http://<--listen> (env SPACEPODS_PUBLIC_URL)")
	f.StringVar(&fc.podPrefix, "previews-pod-prefix", envOr("SPACEPODS_PREVIEWS_POD_PREFIX", ""), "prefix of pull request pods' names (<prefix>pr-<n>-<app>), for installations that share a Docker host (env SPACEPODS_PREVIEWS_POD_PREFIX)")
	f.StringVar(&fc.url, "forge-url", envOr("SPACEPODS_FORGE_URL", ""), "the forge's web address: Gitea's base URL, or a GitHub Enterprise Server's; empty for github.com (env SPACEPODS_FORGE_URL)")
	f.StringVar(&fc.tokenFile, "forge-token-file", envOr("SPACEPODS_FORGE_TOKEN_FILE", ""), "file holding the forge access token (or set SPACEPODS_FORGE_TOKEN); scopes in docs/forges.md")
	f.StringVar(&fc.secretFile, "forge-webhook-secret-file", envOr("SPACEPODS_FORGE_WEBHOOK_SECRET_FILE", ""), "file holding the webhook secret shared with the forge (or set SPACEPODS_FORGE_WEBHOOK_SECRET); needed for POST /api/v1/hooks/forge")
	f.Int64Var(&fc.appID, "github-app-id", 0, "GitHub App instead of a token: the app's ID (env SPACEPODS_GITHUB_APP_ID)")
	f.Int64Var(&fc.installationID, "github-app-installation-id", 0, "GitHub App: the ID of its installation on the apps' organization (env SPACEPODS_GITHUB_APP_INSTALLATION_ID)")
	f.StringVar(&fc.appKeyFile, "github-app-key-file", envOr("SPACEPODS_GITHUB_APP_KEY_FILE", ""), "GitHub App: its private key (.pem) (env SPACEPODS_GITHUB_APP_KEY_FILE)")
}

// forgeEnvFlags take their SPACEPODS_* variable in RunE (typed flags).
var forgeEnvFlags = []string{"github-app-id", "github-app-installation-id"}

// validate checks the flags that need no file.
func (fc forgeConfig) validate() error {
	if fc.kind == "" {
		if fc.url != "" || fc.tokenFile != "" || fc.secretFile != "" || fc.appID != 0 {
			return spacepods.Errorf(spacepods.EINVALID, "--forge-* flags given without --forge: say which forge, %s", strings.Join(forge.Kinds(), " or "))
		}
		return nil
	}
	if !slices.Contains(forge.Kinds(), fc.kind) {
		return spacepods.Errorf(spacepods.EINVALID, "--forge %q: use %s", fc.kind, strings.Join(forge.Kinds(), " or "))
	}
	if fc.kind != "github" && (fc.appID != 0 || fc.installationID != 0 || fc.appKeyFile != "") {
		return spacepods.Errorf(spacepods.EINVALID, "--github-app-* flags apply to --forge github only")
	}
	if fc.kind == "gitea" && fc.url == "" {
		return spacepods.Errorf(spacepods.EINVALID, "--forge gitea needs --forge-url, the Gitea server's address (e.g. https://gitea.example.com)")
	}
	return nil
}

// readSecret reads a secret from file (trimmed) or, without one, from the
// environment variable env.
func readSecret(file, env, what string) (string, error) {
	if file == "" {
		return strings.TrimSpace(os.Getenv(env)), nil
	}
	b, err := os.ReadFile(file) //nolint:gosec // the operator names the file
	if err != nil {
		return "", spacepods.Errorf(spacepods.EINVALID, "cannot read the %s from %s: %v", what, file, err)
	}
	s := strings.TrimSpace(string(b))
	if s == "" {
		return "", spacepods.Errorf(spacepods.EINVALID, "the %s file %s is empty", what, file)
	}
	return s, nil
}

// load reads the secrets the flags point at.
func (fc *forgeConfig) load() error {
	var err error
	if fc.token, err = readSecret(fc.tokenFile, "SPACEPODS_FORGE_TOKEN", "forge token"); err != nil {
		return err
	}
	if fc.secret, err = readSecret(fc.secretFile, "SPACEPODS_FORGE_WEBHOOK_SECRET", "webhook secret"); err != nil {
		return err
	}
	if fc.appKeyFile != "" {
		if fc.appKey, err = os.ReadFile(fc.appKeyFile); err != nil {
			return spacepods.Errorf(spacepods.EINVALID, "cannot read the GitHub App key from %s: %v", fc.appKeyFile, err)
		}
	}
	if fc.secret == "" {
		return spacepods.Errorf(spacepods.EINVALID, "--forge %s needs the webhook secret shared with the forge: --forge-webhook-secret-file FILE or SPACEPODS_FORGE_WEBHOOK_SECRET (make one with `openssl rand -hex 32`)", fc.kind)
	}
	if fc.appID == 0 && fc.token == "" {
		return spacepods.Errorf(spacepods.EINVALID, "--forge %s needs a token: --forge-token-file FILE or SPACEPODS_FORGE_TOKEN (or a GitHub App: --github-app-id, --github-app-installation-id, --github-app-key-file)", fc.kind)
	}
	return nil
}

// runningForge is the forge's delivery worker.
type runningForge struct {
	cancel   context.CancelFunc
	wg       sync.WaitGroup
	previews *previews.Handler // nil with --runtime none
	forge    forge.Forge
}

// client is the forge (nil without one), for what else writes to it.
func (rf *runningForge) client() forge.Forge {
	if rf == nil {
		return nil
	}
	return rf.forge
}

func (rf *runningForge) stop() {
	if rf == nil {
		return
	}
	rf.cancel()
	rf.wg.Wait()
	if rf.previews != nil {
		rf.previews.Wait()
	}
}

// openForge reads the forge's secrets and opens it; nil without --forge.
// It is opened before the built-in builder, which asks it for clone URLs.
func openForge(fc *forgeConfig) (forge.Forge, error) {
	if fc.kind == "" {
		return nil, nil
	}
	if err := fc.load(); err != nil {
		return nil, err
	}
	return forge.Open(fc.kind, forge.Config{URL: fc.url, Token: fc.token, AppID: fc.appID, InstallationID: fc.installationID, AppKeyPEM: fc.appKey})
}

// startForge starts the webhook receiver's worker for the forge fg (opened
// by openForge from fc), dispatching to the push log, with a built-in
// builder (srv.Builder) to its push and pull request builds
// (internal/forgebuild), and, with a runtime, to the pull request → CI pod
// handler (internal/previews). Nil when fg is nil (no --forge).
func startForge(ctx context.Context, fc forgeConfig, fg forge.Forge, srv *server.Server, st *store.Store, logger *slog.Logger) (*runningForge, error) {
	if fg == nil {
		return nil, nil
	}
	log := logger.With("component", "forge", "forge", fc.kind)
	wctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	rf := &runningForge{cancel: cancel, forge: fg}
	handlers := []forge.Handler{&forge.PushLog{Apps: srv.Catalog.AppsOfRepo, Building: srv.Builder != nil}}
	var fb *forgebuild.Builder
	if srv.Builder != nil {
		fb = &forgebuild.Builder{Forge: fg, Runner: srv.Builder, Catalog: srv.Catalog, Builds: st, Logger: logger.With("component", "builder")}
		handlers = append(handlers, fb)
	}
	if srv.Pods != nil && srv.Tests != nil {
		// Pull request → CI pod: needs a runtime (not with --runtime none).
		pv := &previews.Handler{Forge: fg, Store: st, Catalog: srv.Catalog, Pods: srv.Pods, Tests: srv.Tests,
			BaseURL: fc.publicURL, Prefix: fc.podPrefix, Logger: logger.With("component", "previews")}
		if fb != nil {
			pv.Builder = fb
		}
		if err := pv.Start(wctx); err != nil {
			cancel()
			return nil, err
		}
		rf.previews = pv
		handlers = append(handlers, pv)
	}
	rcv := &forge.Receiver{Secret: []byte(fc.secret), Store: st, Forge: fg, Apps: srv.Catalog.AppsOfRepo,
		Handlers: handlers, Logger: log}
	srv.Hooks = rcv
	rf.wg.Add(1)
	go func() { defer rf.wg.Done(); rcv.Run(wctx) }()
	log.Info("forge webhooks at POST /api/v1/hooks/forge", "url", fc.url)
	return rf, nil
}

// oidcConfig is the flags of sign-in through an OpenID Connect provider.
type oidcConfig struct {
	issuer, clientID, secretFile, redirectURL, label, groupsClaim, defaultRole string
	roles                                                                      []string
}

func (oc *oidcConfig) flags(cmd *cobra.Command) {
	f := cmd.Flags()
	f.StringVar(&oc.issuer, "oidc-issuer", envOr("SPACEPODS_OIDC_ISSUER", ""), "sign in to the web UI through this OpenID Connect provider (its issuer URL, e.g. the Gitea server's); tokens still work (env SPACEPODS_OIDC_ISSUER)")
	f.StringVar(&oc.clientID, "oidc-client-id", envOr("SPACEPODS_OIDC_CLIENT_ID", ""), "the OAuth2 application's client ID at the provider (env SPACEPODS_OIDC_CLIENT_ID)")
	f.StringVar(&oc.secretFile, "oidc-client-secret-file", envOr("SPACEPODS_OIDC_CLIENT_SECRET_FILE", ""), "file holding its client secret (or set SPACEPODS_OIDC_CLIENT_SECRET)")
	f.StringVar(&oc.redirectURL, "oidc-redirect-url", envOr("SPACEPODS_OIDC_REDIRECT_URL", ""), "https://<where users reach Spacepods>/auth/oidc/callback, as registered with the provider (env SPACEPODS_OIDC_REDIRECT_URL)")
	f.StringVar(&oc.label, "oidc-label", envOr("SPACEPODS_OIDC_LABEL", ""), "the provider's name on the sign-in button, e.g. Gitea (env SPACEPODS_OIDC_LABEL)")
	f.StringVar(&oc.groupsClaim, "oidc-groups-claim", envOr("SPACEPODS_OIDC_GROUPS_CLAIM", "groups"), "the ID token claim listing the user's groups (Gitea: orgs and org:team) (env SPACEPODS_OIDC_GROUPS_CLAIM)")
	f.StringSliceVar(&oc.roles, "oidc-role", nil, "GROUP=ROLE: members of GROUP get ROLE (the highest of their groups wins), e.g. acme:platform=admin, acme=developer (repeat or comma-separate; env SPACEPODS_OIDC_ROLE)")
	f.StringVar(&oc.defaultRole, "oidc-default-role", envOr("SPACEPODS_OIDC_DEFAULT_ROLE", ""), "role of users in no mapped group; empty = they cannot sign in (env SPACEPODS_OIDC_DEFAULT_ROLE)")
}

// newOIDC builds the sign-in flow; nil without --oidc-issuer.
func newOIDC(oc oidcConfig, a *auth.Service, st *store.Store) (*auth.OIDC, error) {
	if oc.issuer == "" {
		return nil, nil
	}
	secret, err := readSecret(oc.secretFile, "SPACEPODS_OIDC_CLIENT_SECRET", "OIDC client secret")
	if err != nil {
		return nil, err
	}
	vals := oc.roles
	if len(vals) == 0 && os.Getenv("SPACEPODS_OIDC_ROLE") != "" {
		vals = strings.Split(os.Getenv("SPACEPODS_OIDC_ROLE"), ",")
	}
	roles, err := auth.ParseRoleMappings(vals)
	if err != nil {
		return nil, err
	}
	return auth.NewOIDC(auth.OIDCConfig{Issuer: oc.issuer, ClientID: oc.clientID, ClientSecret: secret, RedirectURL: oc.redirectURL,
		Label: oc.label, GroupsClaim: oc.groupsClaim, Roles: roles, DefaultRole: oc.defaultRole}, a, st)
}
