package stream_test

import (
	"encoding/json"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/kairos-engine/kairos/bench/synth"
	"github.com/kairos-engine/kairos/state"
	"github.com/kairos-engine/kairos/stream"
)

// TestEraseIsNotResurrected erases a contact whose anonymous profile was
// merged from another partition, then replays its old events and sends
// new ones under its ids, across a restart: nothing of it comes back, and
// the receipt says what was removed.
func TestEraseIsNotResurrected(t *testing.T) {
	addr := startBroker(t)
	// Find an anonymous id on another partition than the contact, so the
	// erase has to cross partitions.
	const contact = "erase-me"
	anon := ""
	for i := 0; anon == ""; i++ {
		a := fmt.Sprintf("anon-%d", i)
		if stream.PartitionOf(a, testPartitions) != stream.PartitionOf(contact, testPartitions) {
			anon = a
		}
	}
	ev := func(id, typ, ids, props string, at time.Time) synth.Record {
		v := fmt.Sprintf(`{"id":%q,"type":%q,%s,"timestamp":%q,"properties":{%s}}`, id, typ, ids, at.Format(time.RFC3339), props)
		return synth.Record{Topic: "kairos.clickstream", Key: []byte(contact), Value: []byte(v)}
	}
	t0 := time.Now().Add(-time.Hour).UTC().Truncate(time.Second)
	anonIDs := fmt.Sprintf(`"anonymous_id":%q`, anon)
	both := fmt.Sprintf(`"anonymous_id":%q,"contact_id":%q,"email":"erase.me@example.com"`, anon, contact)
	old := []synth.Record{
		ev("e1", "page_view", anonIDs, `"url":"https://shop.example/pricing"`, t0),
		ev("e2", "page_view", anonIDs, `"url":"https://shop.example/a"`, t0.Add(time.Minute)),
		ev("e3", "identify", both, `"traits":{"name":"Erase Me"}`, t0.Add(2*time.Minute)),
		ev("e4", "page_view", fmt.Sprintf(`"contact_id":%q`, contact), `"url":"https://shop.example/b"`, t0.Add(3*time.Minute)),
	}
	for i := range old[:2] {
		old[i].Key = []byte(anon)
	}
	produce(t, addr, old)

	st := openStore(t, t.TempDir())
	eng, stop := runEngine(t, addr, st)
	key := state.MakeKey(state.IDContact, contact)
	var c state.Contact
	eventually(t, 30*time.Second, func() error {
		if _, err := st.Lookup(key, eng.PartitionOf, &c); err != nil {
			return err
		}
		if c.Counts[state.EventPageView] != 3 {
			return fmt.Errorf("page views %d, want 3 (the anonymous ones merged)", c.Counts[state.EventPageView])
		}
		return nil
	})

	if err := eng.RequestErase(t.Context(), key); err != nil {
		t.Fatal(err)
	}
	pt, err := st.Partition(eng.PartitionOf(contact))
	if err != nil {
		t.Fatal(err)
	}
	var receipt stream.Receipt
	eventually(t, 30*time.Second, func() error {
		b, ok, err := pt.Tombstone(key)
		if err != nil || !ok {
			return errors.Join(err, errors.New("no tombstone yet"))
		}
		return json.Unmarshal(b, &receipt)
	})
	if !receipt.ContactDeleted || receipt.IDs != 3 || receipt.Forwarded < 1 {
		t.Errorf("receipt %+v: want the contact deleted, 3 ids, the anonymous id forwarded to its partition", receipt)
	}
	gone := func() error {
		for _, k := range []state.Key{key, state.MakeKey(state.IDAnonymous, anon), state.MakeKey(state.IDEmail, "erase.me@example.com")} {
			if _, err := st.Lookup(k, eng.PartitionOf, &c); !errors.Is(err, state.ErrNotFound) {
				return fmt.Errorf("%s still resolves (err %v)", k, err)
			}
		}
		return nil
	}
	eventually(t, 30*time.Second, gone)

	// A replay of the old events and new ones under every erased id,
	// across a restart that reloads the tombstones.
	if err := stop(); err != nil {
		t.Fatal(err)
	}
	later := []synth.Record{
		ev("e5", "page_view", anonIDs, `"url":"https://shop.example/c"`, t0.Add(10*time.Minute)),
		ev("e6", "page_view", `"email":"erase.me@example.com"`, `"url":"https://shop.example/d"`, t0.Add(11*time.Minute)),
	}
	later[0].Key = []byte(anon)
	later[1].Key = []byte("erase.me@example.com")
	produce(t, addr, append(old, later...))
	eng, stop = runEngine(t, addr, st)
	defer func() {
		if err := stop(); err != nil {
			t.Error(err)
		}
	}()
	eventually(t, 30*time.Second, eng.Ready)
	// Everything produced is consumed, then nothing must exist.
	eventually(t, 30*time.Second, func() error {
		if n := eng.InputsCommitted(); n < int64(len(old)+len(later)) {
			return fmt.Errorf("%d inputs folded since the restart", n)
		}
		return nil
	})
	time.Sleep(500 * time.Millisecond) // let forwarded records land
	if err := gone(); err != nil {
		t.Fatalf("after replay and restart: %v", err)
	}
	if n := countContacts(t, st); n != 0 {
		t.Errorf("%d contacts stored, want 0", n)
	}
}
