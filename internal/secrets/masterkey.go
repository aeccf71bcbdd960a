package secrets

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"github.com/spacepods/spacepods/internal/spacepods"
)

// Where the local backend's master key comes from.
const (
	// MasterKeyEnv holds the master key in base64; it wins over the file.
	MasterKeyEnv = "SPACEPODS_MASTER_KEY"
	// KeyFileName is the key file in the data dir: 32 raw bytes, mode 0600.
	KeyFileName = "secrets.key"
	// PreviousMasterKeyEnv holds, in base64, the master key being rotated
	// away from, next to the new one in SPACEPODS_MASTER_KEY: secrets still
	// wrapped by it stay readable until `secrets rotate-key` re-wraps them.
	PreviousMasterKeyEnv = "SPACEPODS_MASTER_KEY_PREVIOUS"
)

// KeyID names a master key without revealing it: the first 8 hex digits of
// its SHA-256.
func KeyID(key []byte) string {
	sum := sha256.Sum256(key)
	return hex.EncodeToString(sum[:4])
}

// GenerateMasterKey returns 32 random bytes.
func GenerateMasterKey() ([]byte, error) {
	k := make([]byte, 32)
	if _, err := rand.Read(k); err != nil {
		return nil, fmt.Errorf("generate master key: %w", err)
	}
	return k, nil
}

// Sources of a master key, as returned by LoadMasterKey.
const (
	KeyFromEnv     = "env"
	KeyFromFile    = "file"
	KeyFromNewFile = "new-file"
)

// LoadMasterKey returns the master key: decoded from envValue (the base64
// value of SPACEPODS_MASTER_KEY) when that is set, else read from
// <dataDir>/secrets.key, which is created with 32 random bytes (mode 0600)
// when missing. source is KeyFromEnv, KeyFromFile or KeyFromNewFile.
// EINVALID for a malformed key.
func LoadMasterKey(dataDir, envValue string) (key []byte, source string, err error) {
	if v := strings.TrimSpace(envValue); v != "" {
		key, err := decodeKey(MasterKeyEnv, v)
		return key, KeyFromEnv, err
	}
	if dataDir == "" {
		return nil, "", spacepods.Errorf(spacepods.EINVALID, "the local secret store needs a master key: set --data-dir (the key file %s is kept there) or %s", KeyFileName, MasterKeyEnv)
	}
	path := filepath.Join(dataDir, KeyFileName)
	key, err = readKeyFile(path)
	if err == nil {
		return key, KeyFromFile, nil
	}
	if !errors.Is(err, fs.ErrNotExist) {
		return nil, "", err
	}
	if err := os.MkdirAll(dataDir, 0o700); err != nil {
		return nil, "", spacepods.Errorf(spacepods.EINVALID, "cannot create data dir %s: %v (choose another with --data-dir)", dataDir, err)
	}
	key, err = GenerateMasterKey()
	if err != nil {
		return nil, "", err
	}
	tmp, err := writeTemp(dataDir, key)
	if err != nil {
		return nil, "", err
	}
	defer func() { _ = os.Remove(tmp) }() // best-effort cleanup; nothing useful to do on failure
	// Link, unlike rename, never replaces a key another process just made.
	if err := os.Link(tmp, path); err != nil {
		if errors.Is(err, fs.ErrExist) {
			key, err = readKeyFile(path)
			return key, KeyFromFile, err
		}
		return nil, "", fmt.Errorf("create master key file: %w", err)
	}
	syncDir(dataDir)
	return key, KeyFromNewFile, nil
}

// decodeKey decodes the base64 master key in the env var name.
func decodeKey(name, v string) ([]byte, error) {
	key, err := base64.StdEncoding.DecodeString(strings.TrimSpace(v))
	if err != nil {
		return nil, spacepods.Errorf(spacepods.EINVALID, "%s is not valid base64: %v (make one with `head -c 32 /dev/urandom | base64`)", name, err)
	}
	if len(key) != 32 {
		return nil, spacepods.Errorf(spacepods.EINVALID, "%s decodes to %d bytes; a master key is 32 bytes (make one with `head -c 32 /dev/urandom | base64`)", name, len(key))
	}
	return key, nil
}

func readKeyFile(path string) ([]byte, error) {
	key, err := os.ReadFile(path)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return nil, err
		}
		return nil, spacepods.Errorf(spacepods.EINVALID, "cannot read the master key file: %v", err)
	}
	if len(key) != 32 {
		return nil, spacepods.Errorf(spacepods.EINVALID, "the master key file %s holds %d bytes, want 32: restore it from your backup", path, len(key))
	}
	return key, nil
}

// WriteMasterKeyFile makes key the content of <dataDir>/secrets.key,
// atomically (write a temp file, fsync, rename). The key it replaces is
// first saved as secrets.key.old, so a crash at any point leaves both keys
// on disk; remove secrets.key.old once you no longer need to restore
// database backups taken before the rotation.
func WriteMasterKeyFile(dataDir string, key []byte) error {
	if len(key) != 32 {
		return spacepods.Errorf(spacepods.EINVALID, "a master key is 32 bytes, got %d", len(key))
	}
	path := filepath.Join(dataDir, KeyFileName)
	old, err := os.ReadFile(path)
	switch {
	case err == nil && bytes.Equal(old, key):
		return nil
	case err == nil:
		if err := writeFileAtomic(dataDir, path+".old", old); err != nil {
			return fmt.Errorf("keep the old master key: %w", err)
		}
	case !errors.Is(err, fs.ErrNotExist):
		return fmt.Errorf("read the master key file: %w", err)
	}
	if err := writeFileAtomic(dataDir, path, key); err != nil {
		return fmt.Errorf("write the master key file: %w", err)
	}
	return nil
}

// RotateMasterKeyFile is the whole rotation for a key kept in the data dir:
// save newKey as secrets.key.new, re-wrap every secret (l.RotateKey), then
// install newKey as secrets.key keeping the previous key as secrets.key.old.
// If the process dies between the re-wrap and the install, OpenLocal finds
// secrets.key.new and finishes (or drops) it by looking at the key IDs in
// the database.
func RotateMasterKeyFile(ctx context.Context, l *Local, dataDir string, newKey []byte) error {
	if len(newKey) != 32 {
		return spacepods.Errorf(spacepods.EINVALID, "a master key is 32 bytes, got %d", len(newKey))
	}
	pending := filepath.Join(dataDir, KeyFileName+".new")
	if err := writeFileAtomic(dataDir, pending, newKey); err != nil {
		return fmt.Errorf("save the new master key: %w", err)
	}
	if err := l.RotateKey(ctx, newKey); err != nil {
		_ = os.Remove(pending) // best-effort cleanup; nothing useful to do on failure
		return err
	}
	if err := WriteMasterKeyFile(dataDir, newKey); err != nil {
		return fmt.Errorf("secrets were re-wrapped under key %s but %w; the new key is in %s", KeyID(newKey), err, pending)
	}
	_ = os.Remove(pending) // best-effort cleanup; nothing useful to do on failure
	syncDir(dataDir)
	return nil
}

// finishRotation completes or drops a rotation interrupted after
// RotateMasterKeyFile saved secrets.key.new: the new key is installed when
// no secret is still under the current key (the re-wrap committed).
func finishRotation(ctx context.Context, dataDir string, blobs BlobStore) error {
	pending := filepath.Join(dataDir, KeyFileName+".new")
	newKey, err := readKeyFile(pending)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	cur, err := readKeyFile(filepath.Join(dataDir, KeyFileName))
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return err
	}
	curID, newID := KeyID(cur), KeyID(newKey)
	underCur, underNew := 0, 0
	err = blobs.ListAll(ctx, func(_, keyID string) error {
		switch keyID {
		case curID:
			underCur++
		case newID:
			underNew++
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("check an interrupted key rotation: %w", err)
	}
	if underCur == 0 && (underNew > 0 || cur == nil) {
		if err := WriteMasterKeyFile(dataDir, newKey); err != nil {
			return fmt.Errorf("finish an interrupted key rotation: %w", err)
		}
	}
	return os.Remove(pending)
}

// OpenLocal opens the local backend: the master key is cfg.MasterKey, else
// SPACEPODS_MASTER_KEY, else <DataDir>/secrets.key (created if missing).
// The previous key (SetPreviousKey) is cfg.PreviousKey, else
// SPACEPODS_MASTER_KEY_PREVIOUS when the key comes from the environment.
func OpenLocal(ctx context.Context, cfg LocalConfig) (*Local, error) {
	if cfg.Blobs == nil {
		return nil, spacepods.Errorf(spacepods.EINVALID, "the local secret store needs a blob store (the Spacepods database)")
	}
	key, source, prev := cfg.MasterKey, "", cfg.PreviousKey
	if key == nil {
		env := os.Getenv(MasterKeyEnv)
		if env == "" && cfg.DataDir != "" {
			if err := finishRotation(ctx, cfg.DataDir, cfg.Blobs); err != nil {
				return nil, err
			}
		}
		var err error
		if key, source, err = LoadMasterKey(cfg.DataDir, env); err != nil {
			return nil, err
		}
		if v := os.Getenv(PreviousMasterKeyEnv); v != "" && prev == nil {
			if source != KeyFromEnv {
				return nil, spacepods.Errorf(spacepods.EINVALID, "%s is set but %s is not: set the new key in %s too (or unset %s to use %s)", PreviousMasterKeyEnv, MasterKeyEnv, MasterKeyEnv, PreviousMasterKeyEnv, KeyFileName)
			}
			if prev, err = decodeKey(PreviousMasterKeyEnv, v); err != nil {
				return nil, err
			}
		}
	}
	l, err := NewLocal(cfg.Blobs, key)
	if err != nil {
		return nil, err
	}
	l.source = source
	if prev != nil {
		if err := l.SetPreviousKey(prev); err != nil {
			return nil, err
		}
	}
	return l, nil
}

// Rotation is what RotateMasterKey did.
type Rotation struct {
	KeyID string // the master key that wraps every secret now
	Next  string // what the operator still has to do; "" for nothing
}

// RotateMasterKey rotates the master key of l the way its source allows,
// so that the next start reads every secret:
//   - a key file in dataDir: a new random key, installed by
//     RotateMasterKeyFile (the old one kept as secrets.key.old);
//   - SPACEPODS_MASTER_KEY with SPACEPODS_MASTER_KEY_PREVIOUS: every secret
//     still under the previous key is re-wrapped under the current one;
//     the operator then removes SPACEPODS_MASTER_KEY_PREVIOUS (Next says so);
//   - SPACEPODS_MASTER_KEY alone: EINVALID with the steps above. The server
//     cannot change its own environment, and a new key it kept anywhere
//     else would lose to the variable at the next start, leaving every
//     secret unreadable.
func RotateMasterKey(ctx context.Context, l *Local, dataDir string) (Rotation, error) {
	switch l.KeySource() {
	case KeyFromFile, KeyFromNewFile:
		key, err := GenerateMasterKey()
		if err != nil {
			return Rotation{}, err
		}
		if err := RotateMasterKeyFile(ctx, l, dataDir, key); err != nil {
			return Rotation{}, err
		}
		return Rotation{KeyID: l.KeyID(), Next: fmt.Sprintf("the previous key is kept in %s: you need it only to restore database backups taken before now; back up the new %s",
			filepath.Join(dataDir, KeyFileName+".old"), KeyFileName)}, nil
	case KeyFromEnv:
		prev := l.PreviousKeyID()
		if prev == "" {
			return Rotation{}, spacepods.Errorf(spacepods.EINVALID, "the master key (%s) comes from %s, which this server cannot change: a key rotated here would lose to the variable at the next start and leave every secret unreadable, so nothing was changed. "+
				"To rotate: (1) make a new key: head -c 32 /dev/urandom | base64; "+
				"(2) restart the server with %s=<the current key> and %s=<the new key> (secrets under either key stay readable); "+
				"(3) run `spacepods secrets rotate-key` again: it re-wraps every secret under the new key; "+
				"(4) remove %s and restart",
				l.KeyID(), MasterKeyEnv, PreviousMasterKeyEnv, MasterKeyEnv, PreviousMasterKeyEnv)
		}
		cur := l.KeyID()
		if err := l.rewrapToCurrent(ctx); err != nil {
			return Rotation{}, err
		}
		return Rotation{KeyID: cur, Next: fmt.Sprintf("every secret is wrapped by key %s (from %s): remove %s (key %s) from the server's environment; keep that key only to restore database backups taken before now",
			cur, MasterKeyEnv, PreviousMasterKeyEnv, prev)}, nil
	}
	return Rotation{}, spacepods.Errorf(spacepods.EINVALID, "this store's master key was handed to it by the program (LocalConfig.MasterKey): rotate with RotateKey and keep the new key yourself")
}

// writeTemp writes data to a new 0600 temp file in dir, synced to disk.
func writeTemp(dir string, data []byte) (string, error) {
	f, err := os.CreateTemp(dir, ".secrets-key-*")
	if err != nil {
		return "", err
	}
	// One err throughout: a failed Chmod, Write or Sync must reach the check below.
	if err = f.Chmod(0o600); err == nil {
		if _, err = f.Write(data); err == nil {
			err = f.Sync()
		}
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		_ = os.Remove(f.Name()) // best-effort cleanup; nothing useful to do on failure
		return "", err
	}
	return f.Name(), nil
}

// writeFileAtomic replaces path with data (mode 0600) so that readers see
// the old or the new content, never a mix.
func writeFileAtomic(dir, path string, data []byte) error {
	tmp, err := writeTemp(dir, data)
	if err != nil {
		return err
	}
	if err := os.Rename(tmp, path); err != nil {
		_ = os.Remove(tmp) // best-effort cleanup; nothing useful to do on failure
		return err
	}
	syncDir(dir)
	return nil
}

// syncDir makes a rename durable; best effort.
func syncDir(dir string) {
	if d, err := os.Open(dir); err == nil {
		_ = d.Sync()  // best-effort cleanup; nothing useful to do on failure
		_ = d.Close() // best-effort cleanup; nothing useful to do on failure
	}
}
