package cli

// The secret stores registered from packages of their own (local and vault
// register in internal/secrets): each registers its ID with
// secrets.Register in its package's init, and --secret-store picks one.
import (
	_ "github.com/spacepods/spacepods/internal/secrets/awssecrets"
)
