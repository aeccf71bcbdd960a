package secrets

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"net/http"
	"sort"
	"strings"
	"sync"

	vaultapi "github.com/hashicorp/vault/api"

	"github.com/spacepods/spacepods/internal/spacepods"
)

// Vault is the vault backend: secrets live in a HashiCorp Vault KV v2 engine,
// one Vault secret per ref at <mount>/data/<prefix>/<ref> holding
// {"value": "<base64 of the bytes>"}. Put writes a new version; Get reads the
// latest one; Delete removes the key's metadata and with it every version
// (so the ref is also gone from List; Vault keeps no undelete for it).
type Vault struct {
	client *vaultapi.Client
	auth   *vaultapi.Client // for AppRole logins: never carries a token
	cfg    VaultConfig

	loginMu sync.Mutex // one AppRole login at a time
}

var _ Store = (*Vault)(nil)

// NewVault returns a vault backend. It logs in at once when AppRole is
// configured; with a token it sends nothing until the first call. EINVALID
// for a bad config; EUNAVAILABLE or EFORBIDDEN when the AppRole login fails.
//
// TLS settings come from the standard VAULT_CACERT, VAULT_CLIENT_CERT, ...
// variables; address, token, namespace and mount only from cfg.
func NewVault(ctx context.Context, cfg VaultConfig) (*Vault, error) {
	cfg.Address = strings.TrimRight(strings.TrimSpace(cfg.Address), "/")
	if cfg.Address == "" {
		return nil, spacepods.Errorf(spacepods.EINVALID, "the vault secret store needs the Vault address: set --vault-addr (e.g. https://vault.example.com:8200)")
	}
	cfg.Mount = strings.Trim(cfg.Mount, "/")
	if cfg.Mount == "" {
		cfg.Mount = "secret"
	}
	cfg.AuthMount = strings.Trim(cfg.AuthMount, "/")
	if cfg.AuthMount == "" {
		cfg.AuthMount = "approle"
	}
	cfg.Namespace = strings.Trim(cfg.Namespace, "/")
	cfg.PathPrefix = strings.Trim(cfg.PathPrefix, "/")
	for what, p := range map[string]string{"--vault-mount": cfg.Mount, "AppRole mount": cfg.AuthMount, "--vault-namespace": cfg.Namespace, "--vault-path-prefix": cfg.PathPrefix} {
		if p != "" {
			if err := ValidateRef(p); err != nil {
				return nil, spacepods.Errorf(spacepods.EINVALID, "bad %s %q: %s", what, p, spacepods.ErrorMessage(err))
			}
		}
	}
	approle := cfg.RoleID != "" || cfg.SecretID != ""
	switch {
	case approle && (cfg.RoleID == "" || cfg.SecretID == ""):
		return nil, spacepods.Errorf(spacepods.EINVALID, "Vault AppRole login needs both a role_id and a secret_id (--vault-role-id, --vault-secret-id)")
	case approle && cfg.Token != "":
		return nil, spacepods.Errorf(spacepods.EINVALID, "give Vault either a token or an AppRole role_id/secret_id, not both")
	case !approle && cfg.Token == "":
		return nil, spacepods.Errorf(spacepods.EINVALID, "the vault secret store needs a token (--vault-token) or an AppRole role_id and secret_id (--vault-role-id, --vault-secret-id)")
	}

	conf := vaultapi.DefaultConfig()
	if conf.Error != nil {
		return nil, spacepods.Errorf(spacepods.EINVALID, "Vault client settings from the environment: %v", conf.Error)
	}
	conf.Address = cfg.Address
	if cfg.Timeout > 0 {
		conf.Timeout = cfg.Timeout
	}
	switch {
	case cfg.MaxRetries > 0:
		conf.MaxRetries = cfg.MaxRetries
	case cfg.MaxRetries < 0:
		conf.MaxRetries = 0
	}
	v := &Vault{cfg: cfg}
	for _, c := range []**vaultapi.Client{&v.client, &v.auth} {
		client, err := vaultapi.NewClient(conf)
		if err != nil {
			return nil, spacepods.Errorf(spacepods.EINVALID, "bad Vault address %q: %v (check --vault-addr)", cfg.Address, err)
		}
		// NewClient reads VAULT_TOKEN and VAULT_NAMESPACE; cfg decides.
		client.ClearToken()
		if cfg.Namespace != "" {
			client.SetNamespace(cfg.Namespace)
		} else {
			client.ClearNamespace()
		}
		*c = client
	}
	v.client.SetToken(cfg.Token)
	if approle {
		if err := v.login(ctx, ""); err != nil {
			return nil, err
		}
	}
	return v, nil
}

// Name returns "vault".
func (v *Vault) Name() string { return "vault" }

// login exchanges the AppRole credentials for a token, unless another
// goroutine already replaced the token that failed.
func (v *Vault) login(ctx context.Context, failed string) error {
	v.loginMu.Lock()
	defer v.loginMu.Unlock()
	if failed != "" && v.client.Token() != failed {
		return nil
	}
	path := "auth/" + v.cfg.AuthMount + "/login"
	sec, err := v.auth.Logical().WriteWithContext(ctx, path, map[string]any{"role_id": v.cfg.RoleID, "secret_id": v.cfg.SecretID})
	if err != nil {
		var re *vaultapi.ResponseError
		if errors.As(err, &re) && (re.StatusCode == http.StatusBadRequest || re.StatusCode == http.StatusForbidden) {
			return spacepods.Errorf(spacepods.EFORBIDDEN, "Vault refused the AppRole login at %s: %s (check --vault-role-id and --vault-secret-id)", path, vaultSaid(re))
		}
		return v.fail(ctx, "login with", path, err)
	}
	if sec == nil || sec.Auth == nil || sec.Auth.ClientToken == "" {
		return spacepods.Errorf(spacepods.EUNAVAILABLE, "Vault at %s answered the AppRole login at %s without a token", v.cfg.Address, path)
	}
	v.client.SetToken(sec.Auth.ClientToken)
	return nil
}

// call runs fn; with AppRole, a 403 (the token expired or was revoked)
// triggers one fresh login and one retry.
func (v *Vault) call(ctx context.Context, fn func() error) error {
	token := v.client.Token()
	err := fn()
	var re *vaultapi.ResponseError
	if v.cfg.RoleID == "" || !errors.As(err, &re) || re.StatusCode != http.StatusForbidden {
		return err
	}
	if lerr := v.login(ctx, token); lerr != nil {
		return lerr
	}
	return fn()
}

// path joins the path prefix and p under the mount's data/ or metadata/.
func (v *Vault) path(kind, p string) string {
	full := v.cfg.Mount + "/" + kind + "/"
	if v.cfg.PathPrefix != "" {
		full += v.cfg.PathPrefix + "/"
	}
	return full + p
}

// Put writes a new version {"value": base64(value)} of ref.
func (v *Vault) Put(ctx context.Context, ref string, value []byte) error {
	if err := checkPut(ref, value); err != nil {
		return err
	}
	p := v.path("data", ref)
	body := map[string]any{"data": map[string]any{"value": base64.StdEncoding.EncodeToString(value)}}
	err := v.call(ctx, func() error {
		_, err := v.client.Logical().WriteWithContext(ctx, p, body)
		return err
	})
	var re *vaultapi.ResponseError
	if errors.As(err, &re) && re.StatusCode == http.StatusNotFound {
		return spacepods.Errorf(spacepods.EINVALID, "Vault has no KV v2 engine at mount %q: enable one (`vault secrets enable -path=%s kv-v2`) or set --vault-mount", v.cfg.Mount, v.cfg.Mount)
	}
	return v.fail(ctx, `"create" and "update"`, p, err)
}

// Get reads the latest version of ref. ENOTFOUND when the key is missing or
// its latest version is deleted or destroyed.
func (v *Vault) Get(ctx context.Context, ref string) ([]byte, error) {
	if err := ValidateRef(ref); err != nil {
		return nil, err
	}
	p := v.path("data", ref)
	var sec *vaultapi.Secret
	err := v.call(ctx, func() (err error) {
		sec, err = v.client.Logical().ReadWithContext(ctx, p)
		return err
	})
	if err != nil {
		return nil, v.fail(ctx, `"read"`, p, err)
	}
	// A missing key reads as nil; a deleted latest version as a 404 whose
	// body still has metadata but "data": null.
	var data map[string]any
	if sec != nil {
		data, _ = sec.Data["data"].(map[string]any)
	}
	if data == nil {
		return nil, spacepods.Errorf(spacepods.ENOTFOUND, "no secret %q in Vault (looked at %s)", ref, p)
	}
	s, ok := data["value"].(string)
	if !ok {
		return nil, spacepods.Errorf(spacepods.EINVALID, "the Vault secret at %s has no string field \"value\": Spacepods stores {\"value\": <base64>}; rewrite it with `vault kv put -mount=%s ... value=<base64>`", p, v.cfg.Mount)
	}
	value, err := base64.StdEncoding.DecodeString(s)
	if err != nil {
		return nil, spacepods.Errorf(spacepods.EINVALID, "the Vault secret at %s has a \"value\" that is not base64: %v", p, err)
	}
	return value, nil
}

// Delete removes every version and the metadata of ref (DELETE on
// <mount>/metadata/...). Deleting a missing ref succeeds.
func (v *Vault) Delete(ctx context.Context, ref string) error {
	if err := ValidateRef(ref); err != nil {
		return err
	}
	p := v.path("metadata", ref)
	err := v.call(ctx, func() error {
		_, err := v.client.Logical().DeleteWithContext(ctx, p)
		return err
	})
	var re *vaultapi.ResponseError
	if errors.As(err, &re) && re.StatusCode == http.StatusNotFound {
		return nil
	}
	return v.fail(ctx, `"delete"`, p, err)
}

// List walks <mount>/metadata/ with LIST from the folder holding prefix,
// descending only into folders that can hold matching refs.
func (v *Vault) List(ctx context.Context, prefix string) ([]string, error) {
	if err := ValidatePrefix(prefix); err != nil {
		return nil, err
	}
	out := []string{}
	dir := prefix[:strings.LastIndex(prefix, "/")+1]
	if err := v.walk(ctx, dir, prefix, &out); err != nil {
		return nil, err
	}
	sort.Strings(out)
	return out, nil
}

func (v *Vault) walk(ctx context.Context, dir, prefix string, out *[]string) error {
	p := v.path("metadata", dir)
	var sec *vaultapi.Secret
	err := v.call(ctx, func() (err error) {
		sec, err = v.client.Logical().ListWithContext(ctx, p)
		return err
	})
	if err != nil {
		return v.fail(ctx, `"list"`, p, err)
	}
	if sec == nil { // 404: nothing there
		return nil
	}
	keys, _ := sec.Data["keys"].([]any)
	for _, k := range keys {
		name, _ := k.(string)
		full := dir + name
		if folder := strings.HasSuffix(name, "/"); folder {
			if strings.HasPrefix(full, prefix) || strings.HasPrefix(prefix, full) {
				if err := v.walk(ctx, full, prefix, out); err != nil {
					return err
				}
			}
			continue
		}
		// Keys written by others that are not valid refs are not ours.
		if strings.HasPrefix(full, prefix) && ValidateRef(full) == nil {
			*out = append(*out, full)
		}
	}
	return nil
}

// fail turns a client error into a coded error; caps are the policy
// capabilities the call needed on path.
func (v *Vault) fail(ctx context.Context, caps, path string, err error) error {
	if err == nil {
		return nil
	}
	if ctx.Err() != nil {
		return fmt.Errorf("vault %s: %w", path, ctx.Err())
	}
	var re *vaultapi.ResponseError
	if !errors.As(err, &re) {
		return spacepods.Errorf(spacepods.EUNAVAILABLE, "cannot reach Vault at %s: %v (check --vault-addr)", v.cfg.Address, err)
	}
	switch {
	case re.StatusCode == http.StatusForbidden:
		return spacepods.Errorf(spacepods.EFORBIDDEN, "Vault refused the token: check its policy allows %s on %s%s (Vault said: %s)", caps, path, v.inNamespace(), vaultSaid(re))
	case re.StatusCode == http.StatusNotFound:
		return spacepods.Errorf(spacepods.ENOTFOUND, "Vault has nothing at %s%s", path, v.inNamespace())
	case re.StatusCode == http.StatusBadRequest:
		return spacepods.Errorf(spacepods.EINVALID, "Vault rejected the request for %s: %s", path, vaultSaid(re))
	case re.StatusCode == http.StatusTooManyRequests || re.StatusCode >= 500:
		return spacepods.Errorf(spacepods.EUNAVAILABLE, "Vault at %s answered %d for %s: %s (is it sealed, in standby or overloaded?)", v.cfg.Address, re.StatusCode, path, vaultSaid(re))
	}
	return fmt.Errorf("vault %s: %w", path, err)
}

func (v *Vault) inNamespace() string {
	if v.cfg.Namespace == "" {
		return ""
	}
	return " in namespace " + v.cfg.Namespace
}

func vaultSaid(re *vaultapi.ResponseError) string {
	if len(re.Errors) == 0 {
		return fmt.Sprintf("HTTP %d", re.StatusCode)
	}
	return strings.Join(re.Errors, "; ")
}
