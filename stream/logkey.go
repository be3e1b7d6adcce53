package stream

import (
	"strconv"

	"github.com/cespare/xxhash/v2"

	"github.com/kairos-engine/kairos/state"
)

// logKey names a contact in logs above debug level without personal data:
// the id's kind and a hash of it ("e:#9f3a61c2"). An operator with the id
// can find the line by hashing it the same way; nobody can read an email
// address or a customer id out of the log.
func logKey(k state.Key) string {
	kind := "?"
	if k.Kind() != 0 {
		kind = string(rune(k.Kind()))
	}
	return kind + ":#" + strconv.FormatUint(xxhash.Sum64String(string(k))&0xffffffff, 16)
}
