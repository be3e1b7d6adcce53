package auth

import (
	"encoding/hex"
	"fmt"
	"strconv"
	"strings"
)

// The environment variables deployment tooling sets: comma-separated
// plaintext tokens, one variable per scope.
const (
	EnvAdminKeys  = "KAIROS_ADMIN_KEYS"
	EnvReadKeys   = "KAIROS_READ_KEYS"
	EnvPublicKeys = "KAIROS_PUBLIC_KEYS"
)

// KeysFromEnv returns the keys in EnvAdminKeys, EnvReadKeys and
// EnvPublicKeys, read through lookup (os.LookupEnv in main: nothing but
// main reads the environment). Tokens are hashed at once and the
// plaintext dropped. Entries are separated by commas; spaces around them
// and empty entries are ignored. Each key gets the id
// env-<scope>-<first 8 hex digits of its hash>, which is safe to log.
// Public keys from the environment accept any origin; restrict origins in
// a keys file. Errors name the variable and the entry's position, never
// the token.
func KeysFromEnv(lookup func(string) (string, bool)) ([]Key, error) {
	var keys []Key
	for _, v := range []struct {
		name  string
		scope Scope
	}{{EnvAdminKeys, ScopeAdmin}, {EnvReadKeys, ScopeRead}, {EnvPublicKeys, ScopePublic}} {
		val, ok := lookup(v.name)
		if !ok {
			continue
		}
		pos := 0
		for entry := range strings.SplitSeq(val, ",") {
			entry = strings.TrimSpace(entry)
			if entry == "" {
				continue
			}
			pos++
			source := v.name + " entry " + strconv.Itoa(pos)
			if err := checkToken(entry); err != nil {
				return nil, fmt.Errorf("%s: %w", source, err)
			}
			h := HashToken([]byte(entry))
			keys = append(keys, Key{
				ID:     "env-" + v.scope.String() + "-" + hex.EncodeToString(h[:4]),
				Scope:  v.scope,
				Hash:   h,
				Source: source,
			})
		}
	}
	return keys, nil
}

// LoadKeyring builds the keyring of `kairos serve` from a keys file
// (none when keysFile is "") and the environment (see KeysFromEnv). An
// empty keyring is returned as is: the caller then decides, for serve
// with LoadOrCreateAdminKey, for demo with GenerateSession.
func LoadKeyring(keysFile string, lookupEnv func(string) (string, bool)) (*Keyring, error) {
	var keys []Key
	if keysFile != "" {
		fk, err := LoadKeysFile(keysFile)
		if err != nil {
			return nil, err
		}
		keys = fk
	}
	ek, err := KeysFromEnv(lookupEnv)
	if err != nil {
		return nil, err
	}
	return NewKeyring(append(keys, ek...))
}
