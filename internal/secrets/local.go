package secrets

import (
	"context"
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"errors"
	"fmt"
	"sync"

	"github.com/spacepods/spacepods/internal/spacepods"
)

// BlobStore persists sealed secrets for the local backend. The Spacepods
// store (internal/store) implements it; it never sees a plaintext value.
type BlobStore interface {
	// PutBlob stores or replaces the blob at ref atomically: a failed call
	// leaves the earlier blob intact.
	PutBlob(ctx context.Context, ref, keyID string, wrappedKey, sealed []byte) error
	// GetBlob returns the blob at ref. ENOTFOUND if there is none.
	GetBlob(ctx context.Context, ref string) (keyID string, wrappedKey, sealed []byte, err error)
	// DeleteBlob removes the blob at ref; a missing ref is not an error.
	DeleteBlob(ctx context.Context, ref string) error
	// ListBlobs returns the refs that start with prefix, sorted.
	ListBlobs(ctx context.Context, prefix string) ([]string, error)
	// ListAll calls fn with the ref and key ID of every blob.
	ListAll(ctx context.Context, fn func(ref, keyID string) error) error
	// ReplaceWrappedKeys replaces the key ID and wrapped key of every blob
	// with what fn returns, in ONE transaction: if fn fails, nothing changes.
	ReplaceWrappedKeys(ctx context.Context, fn func(ref, keyID string, wrapped []byte) (newKeyID string, newWrapped []byte, err error)) error
}

// Errors of the local backend, wrapped together with a coded
// *spacepods.Error so that both errors.Is and spacepods.ErrorCode work.
var (
	// ErrWrongMasterKey: the secret was sealed under another master key.
	ErrWrongMasterKey = errors.New("secret sealed under another master key")
	// ErrTampered: the blob failed authentication (altered, or moved from
	// another ref).
	ErrTampered = errors.New("secret failed its integrity check")
)

// Local is the local backend: every secret gets a fresh random 256-bit data
// key; the value is sealed with the data key (AES-256-GCM) and the data key
// is wrapped with the master key (AES-256-GCM), both bound to the ref as
// additional authenticated data, so a blob copied to another ref fails to
// open. The blob store keeps the master key's ID next to each wrapped key.
type Local struct {
	blobs BlobStore

	mu     sync.RWMutex // guards the keys; RotateKey holds it exclusively
	master cipher.AEAD
	keyID  string
	// prev, when set, is the master key being rotated away from
	// (SPACEPODS_MASTER_KEY_PREVIOUS): secrets still wrapped by it open, and
	// a rotation re-wraps them.
	prev   cipher.AEAD
	prevID string
	// source is where the master key came from: KeyFromEnv, KeyFromFile,
	// KeyFromNewFile, or "" (handed to NewLocal).
	source string
}

var (
	_ Store      = (*Local)(nil)
	_ KeyRotator = (*Local)(nil)
)

// Envelope format: one version byte, a 12-byte random nonce, the GCM output.
const envelopeV1 = 1

// Additional authenticated data: distinct for the two layers, bound to ref.
func wrapAAD(ref string) []byte { return []byte("spacepods/secret-key/v1\x00" + ref) }
func sealAAD(ref string) []byte { return []byte("spacepods/secret-value/v1\x00" + ref) }

// NewLocal returns a local store over blobs using masterKey (32 bytes).
// EINVALID for a key of the wrong size.
func NewLocal(blobs BlobStore, masterKey []byte) (*Local, error) {
	if blobs == nil {
		return nil, spacepods.Errorf(spacepods.EINVALID, "the local secret store needs a blob store (the Spacepods database)")
	}
	aead, err := newAEAD(masterKey)
	if err != nil {
		return nil, err
	}
	return &Local{blobs: blobs, master: aead, keyID: KeyID(masterKey)}, nil
}

// Name returns "local".
func (l *Local) Name() string { return "local" }

// KeyID returns the ID of the master key in use.
func (l *Local) KeyID() string {
	l.mu.RLock()
	defer l.mu.RUnlock()
	return l.keyID
}

// Put seals value under a fresh data key and stores it in one write.
func (l *Local) Put(ctx context.Context, ref string, value []byte) error {
	if err := checkPut(ref, value); err != nil {
		return err
	}
	dataKey := make([]byte, 32)
	if _, err := rand.Read(dataKey); err != nil {
		return fmt.Errorf("generate data key: %w", err)
	}
	defer clear(dataKey)
	dk, err := newAEAD(dataKey)
	if err != nil {
		return err
	}
	sealed, err := seal(dk, value, sealAAD(ref))
	if err != nil {
		return err
	}
	l.mu.RLock()
	defer l.mu.RUnlock()
	wrapped, err := seal(l.master, dataKey, wrapAAD(ref))
	if err != nil {
		return err
	}
	if err := l.blobs.PutBlob(ctx, ref, l.keyID, wrapped, sealed); err != nil {
		return fmt.Errorf("put secret %s: %w", ref, err)
	}
	return nil
}

// Get opens the secret at ref. ENOTFOUND if missing; ErrWrongMasterKey or
// ErrTampered (code EINTERNAL, with a message saying what to do) if it
// cannot be opened.
func (l *Local) Get(ctx context.Context, ref string) ([]byte, error) {
	if err := ValidateRef(ref); err != nil {
		return nil, err
	}
	keyID, wrapped, sealed, err := l.blobs.GetBlob(ctx, ref)
	if err != nil {
		if spacepods.ErrorCode(err) == spacepods.ENOTFOUND {
			return nil, spacepods.Errorf(spacepods.ENOTFOUND, "no secret %q in the local secret store", ref)
		}
		return nil, fmt.Errorf("get secret %s: %w", ref, err)
	}
	l.mu.RLock()
	master, current := l.master, l.keyID
	if keyID != current && l.prev != nil && keyID == l.prevID {
		master, current = l.prev, l.prevID
	}
	l.mu.RUnlock()
	if keyID != current {
		return nil, wrongKey(ref, keyID, current)
	}
	dataKey, err := open(master, wrapped, wrapAAD(ref))
	if err != nil {
		return nil, tampered(ref)
	}
	defer clear(dataKey)
	dk, err := newAEAD(dataKey)
	if err != nil {
		return nil, tampered(ref)
	}
	value, err := open(dk, sealed, sealAAD(ref))
	if err != nil {
		return nil, tampered(ref)
	}
	return value, nil
}

// Delete removes ref; a missing ref is not an error.
func (l *Local) Delete(ctx context.Context, ref string) error {
	if err := ValidateRef(ref); err != nil {
		return err
	}
	if err := l.blobs.DeleteBlob(ctx, ref); err != nil {
		return fmt.Errorf("delete secret %s: %w", ref, err)
	}
	return nil
}

// List returns the refs that start with prefix, sorted.
func (l *Local) List(ctx context.Context, prefix string) ([]string, error) {
	if err := ValidatePrefix(prefix); err != nil {
		return nil, err
	}
	refs, err := l.blobs.ListBlobs(ctx, prefix)
	if err != nil {
		return nil, fmt.Errorf("list secrets: %w", err)
	}
	if refs == nil {
		refs = []string{}
	}
	return refs, nil
}

// SetPreviousKey makes secrets wrapped by key (the master key being
// rotated away from) readable, and re-wrapped by the next rotation.
// EINVALID for a key of the wrong size.
func (l *Local) SetPreviousKey(key []byte) error {
	aead, err := newAEAD(key)
	if err != nil {
		return err
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if KeyID(key) != l.keyID {
		l.prev, l.prevID = aead, KeyID(key)
	}
	return nil
}

// PreviousKeyID returns the ID of the previous master key, "" if none.
func (l *Local) PreviousKeyID() string {
	l.mu.RLock()
	defer l.mu.RUnlock()
	return l.prevID
}

// KeySource says where the master key came from: KeyFromEnv, KeyFromFile,
// KeyFromNewFile, or "" when it was handed to NewLocal.
func (l *Local) KeySource() string { return l.source }

// UnderPreviousKey counts the secrets still wrapped by the previous master
// key (0 when there is none).
func (l *Local) UnderPreviousKey(ctx context.Context) (int, error) {
	prev := l.PreviousKeyID()
	if prev == "" {
		return 0, nil
	}
	n := 0
	err := l.blobs.ListAll(ctx, func(_, keyID string) error {
		if keyID == prev {
			n++
		}
		return nil
	})
	return n, err
}

// RotateKey re-wraps every data key under newKey in one transaction, then
// switches to it. Values are not re-sealed (their data keys are unchanged).
// A secret under a master key other than the current one (or the previous
// one, see SetPreviousKey) aborts the rotation with ErrWrongMasterKey and
// nothing changes. Secrets already under newKey (a rotation that committed
// but whose key file was not written) are accepted. Puts wait while it
// runs. The caller then persists newKey: WriteMasterKeyFile, or
// RotateMasterKeyFile for the whole recipe. newKey may be the current key:
// that re-wraps what is still under the previous one.
func (l *Local) RotateKey(ctx context.Context, newKey []byte) error {
	next, err := newAEAD(newKey)
	if err != nil {
		return err
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.rewrap(ctx, next, KeyID(newKey))
}

// rewrapToCurrent re-wraps every secret under the current master key:
// those still under the previous key move.
func (l *Local) rewrapToCurrent(ctx context.Context) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.rewrap(ctx, l.master, l.keyID)
}

// rewrap re-wraps every data key under next and switches to it. The caller
// holds l.mu.
func (l *Local) rewrap(ctx context.Context, next cipher.AEAD, nextID string) error {
	err := l.blobs.ReplaceWrappedKeys(ctx, func(ref, keyID string, wrapped []byte) (string, []byte, error) {
		var old cipher.AEAD
		switch {
		case keyID == l.keyID:
			old = l.master
		case keyID == nextID:
			old = next
		case l.prev != nil && keyID == l.prevID:
			old = l.prev
		default:
			return "", nil, wrongKey(ref, keyID, l.keyID)
		}
		dataKey, err := open(old, wrapped, wrapAAD(ref))
		if err != nil {
			return "", nil, tampered(ref)
		}
		defer clear(dataKey)
		rewrapped, err := seal(next, dataKey, wrapAAD(ref))
		if err != nil {
			return "", nil, err
		}
		return nextID, rewrapped, nil
	})
	if err != nil {
		return fmt.Errorf("rotate master key: %w", err)
	}
	l.master, l.keyID = next, nextID
	return nil
}

func wrongKey(ref, sealedWith, current string) error {
	return fmt.Errorf("%w: %w", ErrWrongMasterKey, spacepods.Errorf(spacepods.EINTERNAL,
		"cannot decrypt secret %q: it was sealed under master key %s but this server runs with key %s; start Spacepods with the matching %s or %s (after a key rotation the previous key is kept in %s.old), or set %s to key %s next to the new key and run `spacepods secrets rotate-key`",
		ref, sealedWith, current, KeyFileName, MasterKeyEnv, KeyFileName, PreviousMasterKeyEnv, sealedWith))
}

func tampered(ref string) error {
	return fmt.Errorf("%w: %w", ErrTampered, spacepods.Errorf(spacepods.EINTERNAL,
		"cannot decrypt secret %q: its stored blob failed the integrity check (altered, or copied from another ref); put the value again", ref))
}

func newAEAD(key []byte) (cipher.AEAD, error) {
	if len(key) != 32 {
		return nil, spacepods.Errorf(spacepods.EINVALID, "an AES-256 key is 32 bytes, got %d", len(key))
	}
	block, err := aes.NewCipher(key)
	if err != nil {
		return nil, err
	}
	return cipher.NewGCM(block)
}

// seal returns version byte || random nonce || AES-GCM(plaintext, aad).
func seal(aead cipher.AEAD, plaintext, aad []byte) ([]byte, error) {
	out := make([]byte, 1+aead.NonceSize(), 1+aead.NonceSize()+len(plaintext)+aead.Overhead())
	out[0] = envelopeV1
	if _, err := rand.Read(out[1:]); err != nil {
		return nil, fmt.Errorf("generate nonce: %w", err)
	}
	return aead.Seal(out, out[1:], plaintext, aad), nil //nolint:gosec // false positive: the nonce out[1:] was just filled by crypto/rand
}

// open reverses seal.
func open(aead cipher.AEAD, box, aad []byte) ([]byte, error) {
	n := aead.NonceSize()
	if len(box) < 1+n+aead.Overhead() || box[0] != envelopeV1 {
		return nil, errors.New("malformed envelope")
	}
	return aead.Open(nil, box[1:1+n], box[1+n:], aad)
}
