package rfm_test

import (
	"fmt"

	"github.com/kairos-engine/kairos/models/rfm"
)

// Two partitions build their populations at an evaluation day, the reader
// merges them and scores a customer.
func Example() {
	const today = 20000 // days since 1970-01-01
	cfg := rfm.Config{} // defaults: 365-day window, cents
	type history struct {
		days   []int32
		orders []uint16
		spends []int64
	}
	partitions := [][]history{
		{
			{[]int32{19990}, []uint16{1}, []int64{2999}},
			{[]int32{19500, 19800, 19995}, []uint16{1, 2, 1}, []int64{5000, 12000, 4500}},
			{[]int32{19000}, []uint16{1}, []int64{1999}},
		},
		{
			{[]int32{19700, 19900}, []uint16{1, 1}, []int64{8000, 6000}},
			{[]int32{19850, 19950, 19999}, []uint16{3, 1, 2}, []int64{30000, 9000, 15000}},
			{[]int32{19980}, []uint16{1}, []int64{999}},
			{nil, nil, nil}, // a contact who never bought: not a customer
		},
	}
	merged := rfm.NewPopulation()
	for _, contacts := range partitions {
		pop := rfm.NewPopulation()
		for _, h := range contacts {
			if r, f, m, ok := rfm.Raw(h.days, h.orders, h.spends, today, cfg); ok {
				pop.Add(r, f, m)
			}
		}
		// In Kairos the partition publishes pop.AppendBinary(nil) and the
		// reader decodes it with rfm.DecodePopulation.
		decoded, err := rfm.DecodePopulation(pop.AppendBinary(nil))
		if err != nil {
			panic(err)
		}
		if err := merged.Merge(decoded); err != nil {
			panic(err)
		}
	}
	cuts := cfg.Cuts(merged)
	r, f, m, _ := rfm.Raw([]int32{19850, 19950, 19999}, []uint16{3, 1, 2}, []int64{30000, 9000, 15000}, today, cfg)
	s := cuts.Score(r, f, m)
	fmt.Println(merged.Len(), "customers, fallback:", cuts.Fallback)
	fmt.Printf("r=%v f=%v m=%v score=%+v %s %v\n", r, f, m, s, rfm.Grade(s), rfm.SegmentOf(s))
	// Output:
	// 6 customers, fallback: false
	// r=1 f=6 m=540 score={R:5 F:5 M:5} AAA Champions
}
