package auth

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"time"
)

// AdminKeyFile is the file in the data directory that holds the hash of
// the admin key `kairos serve` generates when no key is configured. It is
// a keys file (see ParseKeysFile) with one key.
const AdminKeyFile = "admin-key.yaml"

// generatedAdminID is the id of the generated admin key.
const generatedAdminID = "generated-admin"

// LoadOrCreateAdminKey is for `kairos serve` started without any key
// configured. If dataDir holds AdminKeyFile, it returns that key and an
// empty token: the token was shown at the first start and is not kept.
// Otherwise it generates an admin key, writes only its hash to
// AdminKeyFile (mode 0600, through a temporary file, fsync and rename, so
// a crash leaves either no file or a whole one) and returns the key with
// its token, which the caller prints once. To replace a lost token,
// delete the file and restart.
func LoadOrCreateAdminKey(dataDir string) (Key, string, error) {
	path := filepath.Join(dataDir, AdminKeyFile)
	keys, err := LoadKeysFile(path)
	switch {
	case err == nil:
		if len(keys) != 1 || keys[0].Scope != ScopeAdmin {
			return Key{}, "", fmt.Errorf("auth: %s must hold exactly one admin key; delete it to generate a new admin key", path)
		}
		return keys[0], "", nil
	case !errors.Is(err, fs.ErrNotExist):
		return Key{}, "", fmt.Errorf("auth: load the generated admin key: %w; delete %s to generate a new one", err, path)
	}

	s, err := Generate(generatedAdminID, ScopeAdmin)
	if err != nil {
		return Key{}, "", err
	}
	body := fmt.Sprintf(`# Written by kairos serve on %s because no API key was configured.
# This is the SHA-256 of the admin key printed once at that start; the key
# itself is not stored anywhere. Delete this file and restart to get a new
# one, or configure keys (keys file or KAIROS_*_KEYS) and delete it.
keys:
  - id: %s
    scope: admin
    hash: %s
`, time.Now().UTC().Format(time.RFC3339), generatedAdminID, s.Key.Hash)
	if err := writeFileAtomic(path, []byte(body)); err != nil {
		if errors.Is(err, fs.ErrExist) {
			// Another instance on this data directory won the race and
			// printed its key; use that one.
			return LoadOrCreateAdminKey(dataDir)
		}
		return Key{}, "", fmt.Errorf("auth: store the generated admin key's hash: %w", err)
	}
	s.Key.Source = path
	return s.Key, s.Token(), nil
}

// writeFileAtomic writes data to path so that path holds either nothing
// or all of data, even across a crash.
func writeFileAtomic(path string, data []byte) (err error) {
	dir := filepath.Dir(path)
	f, err := os.CreateTemp(dir, ".admin-key-*.tmp")
	if err != nil {
		return err
	}
	tmp := f.Name()
	defer func() {
		if err != nil {
			os.Remove(tmp)
		}
	}()
	if err := f.Chmod(0o600); err != nil {
		f.Close()
		return err
	}
	if _, err := f.Write(data); err != nil {
		f.Close()
		return err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	// Link, not rename: two instances starting at once on one data
	// directory must not both print a key of which only one survives.
	if err := os.Link(tmp, path); err != nil {
		return err
	}
	os.Remove(tmp)
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}
