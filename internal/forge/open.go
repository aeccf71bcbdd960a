package forge

import (
	"net/http"

	"github.com/spacepods/spacepods/internal/registry"
)

// Config is what a forge driver is opened with (the server's --forge-*
// flags).
type Config struct {
	// URL is the forge's web address: Gitea's base URL, or a GitHub
	// Enterprise Server's (its API is under /api/v3); empty for github.com.
	URL string
	// Token is an access token (a GitHub personal or fine-grained token, a
	// Gitea access token). Never logged.
	Token string
	// GitHub App (instead of Token): the app's ID, its installation's ID,
	// and its private key (PEM). The driver signs a JWT with the key and
	// exchanges it for installation tokens, renewed before they expire.
	AppID          int64
	InstallationID int64
	AppKeyPEM      []byte
	// HTTPClient, if set, makes the requests.
	HTTPClient *http.Client
}

// Factory opens a driver.
type Factory func(Config) (Forge, error)

var drivers = registry.New[Factory]("forge")

// Register adds a forge driver under its --forge name (each driver calls
// it in its package's init).
func Register(kind string, f Factory) { drivers.Register(kind, f) }

// Kinds lists the registered drivers.
func Kinds() []string { return drivers.IDs() }

// Open opens the driver named kind. EINVALID for an unknown kind.
func Open(kind string, cfg Config) (Forge, error) {
	f, err := drivers.Lookup(kind)
	if err != nil {
		return nil, err
	}
	return f(cfg)
}
