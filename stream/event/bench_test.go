package event

import (
	"testing"

	"github.com/kairos-engine/kairos/state"
)

// benchOrder is an order of three items, larger than the contract's.
const benchOrder = `{"id":"ord-9002-placed","type":"order_placed","contact_id":"42","timestamp":"2026-11-24T06:10:00Z","properties":{"order_id":"9002","items":[{"sku":"SHOE-42","category":"shoes","quantity":2,"price":59.90},{"sku":"SOCK-1","category":"socks","quantity":3,"price":4.5},{"sku":"LACE-7","category":"accessories","price":2.99}],"total":136.29,"currency":"EUR","coupon":"BF26","channel":"web"}}`

// benchMix is a plausible traffic mix: browsing, a cart, an order and
// email engagement. The page view carries a full context.
func benchMix() []struct {
	name string
	data []byte
} {
	return []struct {
		name string
		data []byte
	}{
		{"page_view", []byte(example(state.EventPageView))},
		{"product_view", []byte(example(state.EventProductView))},
		{"add_to_cart", []byte(example(state.EventAddToCart))},
		{"order_placed", []byte(benchOrder)},
		{"opened", []byte(example(state.EventEmailOpened))},
		{"clicked", []byte(example(state.EventEmailClicked))},
	}
}

// BenchmarkDecode measures one event per op: "mix" cycles through the mix,
// the others decode one type. Run with -benchmem; see the package comment.
func BenchmarkDecode(b *testing.B) {
	mix := benchMix()
	b.Run("mix", func(b *testing.B) {
		d := testDecoder()
		var e Event
		size := 0
		for _, m := range mix {
			size += len(m.data)
		}
		b.SetBytes(int64(size / len(mix)))
		b.ReportAllocs()
		i := 0
		for b.Loop() {
			if err := d.Decode(mix[i].data, 0, &e); err != nil {
				b.Fatal(err)
			}
			if i++; i == len(mix) {
				i = 0
			}
		}
	})
	for _, m := range mix {
		b.Run(m.name, func(b *testing.B) {
			d := testDecoder()
			var e Event
			b.SetBytes(int64(len(m.data)))
			b.ReportAllocs()
			for b.Loop() {
				if err := d.Decode(m.data, 0, &e); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkDecodeInvalid measures the dead-letter path, which a broken
// producer can make the common one.
func BenchmarkDecodeInvalid(b *testing.B) {
	data := []byte(`{"id":"ord-1","type":"order_placed","contact_id":"42","timestamp":"2026-11-24T06:10:00Z","properties":{"items":[{"sku":"S","price":1}],"total":1}}`)
	d := testDecoder()
	var e Event
	b.ReportAllocs()
	for b.Loop() {
		if d.Decode(data, 0, &e) == nil {
			b.Fatal("accepted")
		}
	}
}
