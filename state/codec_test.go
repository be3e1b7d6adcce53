package state

import (
	"bytes"
	"cmp"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"flag"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"testing"
)

var update = flag.Bool("update", false, "rewrite the golden file of the current contact format version")

// testEpoch is the fixed instant (2025-11-03 09:00:00 UTC) the test
// contacts are built around.
const testEpoch int64 = 1762160400000

// goldenContactV1 is the contact stored in testdata/contact_v1.golden: every
// field the version-1 format had is set. It describes those bytes and must
// never change; a field added to Contact later is set in fullContact only.
func goldenContactV1() *Contact {
	c := &Contact{
		Key:       "c:42",
		ContactID: "42",
		EmailAddr: "ann@example.com",
		Phone:     "+33612345678",
		Aliases:   []Key{"a:7f3c9e", "e:ann@example.com"},
		Traits:    []Trait{{"company", "Acme"}, {"job_title", "Buyer"}, {"name", "Ann Ünal"}},
		TimeZone:  "Europe/Paris",
		Language:  "fr",
		Consent: Consent{
			Channels: [NumChannels]ChannelConsent{
				ChannelEmail: {Status: ConsentOptedIn, At: testEpoch - 86_400_000},
				ChannelSMS:   {Status: ConsentOptedOut, At: testEpoch - 3_600_000},
				ChannelPush:  {Status: ConsentComplained, At: testEpoch - 60_000},
			},
			Lists: []ListConsent{
				{List: "newsletter", Subscribed: true, At: testEpoch - 86_400_000},
				{List: "promotions", Subscribed: false, At: testEpoch - 7_200_000},
			},
		},
		FirstSeen: testEpoch - 30*86_400_000,
		LastSeen:  testEpoch,
		Sessions:  Sessions{Count: 7, Start: testEpoch - 900_000, Last: testEpoch},
		Recent: []RecentEvent{
			{Type: EventPageView, At: testEpoch - 900_000, Ref: "/shoes"},
			{Type: EventProductView, At: testEpoch - 600_000, Ref: "sku-123"},
			{Type: EventAddToCart, At: testEpoch - 300_000, Ref: "sku-123"},
			{Type: EventEmailOpened, At: testEpoch, Ref: "autumn-sale"},
		},
		Categories: []Affinity{{"shoes", 3.25}, {"bags", 1.5}},
		Products:   []Affinity{{"sku-123", 2.75}, {"sku-9", -0.125}},
		AffinityAt: testEpoch - 300_000,
		Cart: Cart{
			Items:     []CartItem{{SKU: "sku-123", Category: "shoes", Quantity: 2, Price: 8_999}},
			UpdatedAt: testEpoch - 300_000,
		},
		Orders: Orders{
			Count: 2, Placed: 3, Cancelled: 1,
			Revenue: 15_000, Refunded: 1_000, Currency: "EUR",
			First: testEpoch - 20*86_400_000, Last: testEpoch - 2*86_400_000,
			Recent: []Order{
				{ID: "o-1", At: testEpoch - 20*86_400_000, Day: 20375, Total: 6_000, Refunded: 1_000,
					Flags: OrderPlaced | OrderShipped, Currency: "EUR", Categories: []string{"shoes"}},
				{ID: "o-2", At: testEpoch - 10*86_400_000, Day: 20385, Total: 4_000, Refunded: 4_000,
					Flags: OrderPlaced | OrderCancelled | OrderRefundAll, Currency: "EUR", Categories: []string{"bags", "belts"}},
				{ID: "o-3", At: testEpoch - 2*86_400_000, Day: 20393, Total: 10_000, Refunded: 0,
					Flags: OrderPlaced, Currency: "USD", Categories: []string{"shoes", "socks"}},
			},
		},
		Purchases: []PurchaseDay{
			{Day: 20375, Orders: 1, Spend: 5_000},
			{Day: 20393, Orders: 1, Spend: 10_000},
		},
		Engagement: EmailStats{
			Sent: 12, Delivered: 11, Opened: 6, Clicked: 2, Bounced: 1,
			LastSent: testEpoch - 86_400_000, LastOpen: testEpoch - 80_000_000, LastClick: testEpoch - 79_000_000,
			HistAt: testEpoch - 79_000_000,
		},
		SeenIDs: []uint64{0x9e3779b97f4a7c15, 0x1, 0xffffffffffffffff},
	}
	// The event types version 1 records were written with; later types
	// decode as zero from them.
	for i := range int(EventEmailComplained) + 1 {
		c.Counts[i] = uint32(i + 1)
	}
	c.Engagement.HourOfWeek[0] = 0.5
	c.Engagement.HourOfWeek[33] = 1.75
	c.Engagement.HourOfWeek[HoursPerWeek-1] = 3
	return c
}

// fullContact has every field of Contact set (TestFullContactSetsEveryField
// checks it), so that a round trip of it covers every field. When a field is
// added to Contact, set it here: the check fails until then, and the round
// trip then fails until the codec stores it.
func fullContact() *Contact {
	c := goldenContactV1()
	// Added after version 1's golden file, as new sections.
	c.Triggers = []byte{1, 2, 3, 0, 255}
	c.Decisions = []byte{9, 8, 7}
	c.Scores = Scores{
		Lead: []LeadRule{
			{Rule: "email_click", Points: 4.5, At: testEpoch - 3_600_000, Hits: 2, WindowStart: testEpoch - 86_400_000},
			{Rule: "pricing_page", Points: 10, At: testEpoch, Hits: 1, WindowStart: testEpoch},
		},
		Stage: 3, StageAt: testEpoch - 60_000,
		Segment: 4, SegmentDay: 20395,
		Transitions: []Transition{
			{Kind: TransitionStage, From: 1, To: 2, At: testEpoch - 86_400_000},
			{Kind: TransitionSegment, From: 2, To: 4, At: testEpoch - 60_000},
		},
	}
	return c
}

// typicalContact is the benchmark contact: 20 recent events, 10 category
// and 10 product affinities, 3 orders, 20 seen ids.
func typicalContact() *Contact {
	c := goldenContactV1()
	c.Recent = c.Recent[:0]
	for i := range 20 {
		c.Recent = append(c.Recent, RecentEvent{
			Type: EventType(1 + i%int(NumEventTypes-1)),
			At:   testEpoch + int64(i)*47_000,
			Ref:  "sku-" + strconv.Itoa(1000+i),
		})
	}
	c.Categories, c.Products = nil, nil
	for i := range 10 {
		c.Categories = append(c.Categories, Affinity{Name: "category-" + strconv.Itoa(i), Score: 10 / float64(i+1)})
		c.Products = append(c.Products, Affinity{Name: "sku-" + strconv.Itoa(1000+i), Score: 5 / float64(i+1)})
	}
	c.SeenIDs = nil
	r := rand.New(rand.NewPCG(1, 2))
	for range 20 {
		c.SeenIDs = append(c.SeenIDs, r.Uint64())
	}
	for bin := 8; bin < HoursPerWeek; bin += 24 {
		c.Engagement.HourOfWeek[bin] = 1.5
		c.Engagement.HourOfWeek[bin+11] = 0.75
	}
	return c
}

// contactGen builds random contacts. With extreme set it also produces boundary
// values (MinInt64 times, MaxUint32 counts, infinities) and unsorted times,
// which the codec must carry but the fold never produces; without it the
// contact is one the fold could have built (sorted lists, moderate values),
// as the merge tests need.
type contactGen struct {
	r       *rand.Rand
	extreme bool
	prefix  string // of order ids and aliases, to keep two contacts apart
}

// size picks a list length: often empty, sometimes full, else small.
func (g contactGen) size(limit int) int {
	switch g.r.IntN(8) {
	case 0, 1:
		return 0
	case 2:
		return limit
	case 3:
		return g.r.IntN(limit + 1)
	}
	return g.r.IntN(min(limit, 6) + 1)
}

func (g contactGen) str() string {
	switch g.r.IntN(7) {
	case 0:
		return ""
	case 1:
		return "Ünal 日本 " + strconv.Itoa(g.r.IntN(100))
	case 2:
		if g.extreme {
			return "\xff\x00\xfe" // strings are bytes: invalid UTF-8 round-trips too
		}
		return "x"
	case 3:
		return strings.Repeat("long", 40+g.r.IntN(40))
	}
	return "v" + strconv.Itoa(g.r.IntN(1000))
}

func (g contactGen) time() int64 {
	if g.extreme && g.r.IntN(5) == 0 {
		return []int64{math.MinInt64, math.MaxInt64, -1, 0, 1}[g.r.IntN(5)]
	}
	if g.r.IntN(10) == 0 {
		return 0
	}
	return testEpoch + g.r.Int64N(400*86_400_000) - 200*86_400_000
}

// times returns n times, sorted unless extreme.
func (g contactGen) times(n int) []int64 {
	ts := make([]int64, n)
	for i := range ts {
		ts[i] = g.time()
	}
	if !g.extreme {
		slices.Sort(ts)
	}
	return ts
}

func (g contactGen) u32() uint32 {
	if g.extreme && g.r.IntN(5) == 0 {
		return math.MaxUint32
	}
	return g.r.Uint32N(1 << 20)
}

func (g contactGen) i32() int32 {
	if g.extreme && g.r.IntN(5) == 0 {
		return []int32{math.MinInt32, math.MaxInt32}[g.r.IntN(2)]
	}
	return g.r.Int32N(1<<20) - 1<<10
}

func (g contactGen) money() int64 {
	if g.extreme && g.r.IntN(5) == 0 {
		return []int64{math.MinInt64, math.MaxInt64}[g.r.IntN(2)]
	}
	return g.r.Int64N(1_000_000)
}

func (g contactGen) score() float64 {
	if g.extreme && g.r.IntN(5) == 0 {
		return []float64{math.Inf(1), math.Inf(-1), math.MaxFloat64, math.SmallestNonzeroFloat64, math.Copysign(0, -1)}[g.r.IntN(5)]
	}
	return g.r.Float64() * 20
}

func (g contactGen) contact() *Contact {
	r := g.r
	c := &Contact{
		Key:       MakeKey(IDContact, g.prefix+strconv.Itoa(r.IntN(1e6))),
		ContactID: g.str(),
		EmailAddr: g.str(),
		Phone:     g.str(),
		TimeZone:  g.str(),
		Language:  g.str(),
		FirstSeen: g.time(),
		LastSeen:  g.time(),
		Sessions:  Sessions{Count: g.u32(), Start: g.time(), Last: g.time()},
	}
	for i := range g.size(MaxAliases) {
		c.Aliases = append(c.Aliases, MakeKey(IDAnonymous, g.prefix+strconv.Itoa(i)))
	}
	slices.Sort(c.Aliases)
	for i := range g.size(MaxTraits) {
		c.Traits = append(c.Traits, Trait{Name: "trait" + strconv.Itoa(i), Value: g.str()})
	}
	slices.SortFunc(c.Traits, func(a, b Trait) int { return strings.Compare(a.Name, b.Name) })
	for ch := range c.Consent.Channels {
		if r.IntN(3) > 0 {
			c.Consent.Channels[ch] = ChannelConsent{Status: ConsentStatus(r.IntN(5)), At: g.time()}
		}
	}
	for i := range g.size(MaxLists) {
		c.Consent.Lists = append(c.Consent.Lists, ListConsent{List: "list" + strconv.Itoa(i), Subscribed: r.IntN(2) == 0, At: g.time()})
	}
	slices.SortFunc(c.Consent.Lists, func(a, b ListConsent) int { return strings.Compare(a.List, b.List) })
	for i := range c.Counts {
		if r.IntN(2) == 0 {
			c.Counts[i] = g.u32()
		}
	}
	for _, at := range g.times(g.size(RecentEventsCap)) {
		c.Recent = append(c.Recent, RecentEvent{Type: EventType(r.IntN(int(NumEventTypes))), At: at, Ref: g.str()})
	}
	affinities := func() []Affinity {
		var as []Affinity
		for i := range g.size(MaxAffinities) {
			as = append(as, Affinity{Name: "aff" + strconv.Itoa(i), Score: g.score()})
		}
		slices.SortFunc(as, func(a, b Affinity) int { return -cmp.Compare(a.Score, b.Score) })
		return as
	}
	c.Categories, c.Products, c.AffinityAt = affinities(), affinities(), g.time()
	for range g.size(MaxCartItems) {
		c.Cart.Items = append(c.Cart.Items, CartItem{SKU: g.str(), Category: g.str(), Quantity: g.i32(), Price: g.money()})
	}
	c.Cart.UpdatedAt = g.time()
	c.Orders = Orders{
		Count: g.i32(), Placed: g.u32(), Cancelled: g.u32(),
		Revenue: g.money(), Refunded: g.money(), Currency: g.str(),
		First: g.time(), Last: g.time(),
	}
	for i, at := range g.times(g.size(MaxRecentOrders)) {
		od := Order{
			ID: g.prefix + "order-" + strconv.Itoa(i), At: at, Day: int32(at / 86_400_000),
			Total: g.money(), Refunded: g.money(), Currency: g.str(),
			Flags: uint8(r.IntN(16)),
		}
		if g.extreme {
			od.Day, od.Flags = g.i32(), uint8(r.IntN(256))
		}
		for j := range g.size(MaxOrderCategories) {
			od.Categories = append(od.Categories, "cat"+strconv.Itoa(j))
		}
		c.Orders.Recent = append(c.Orders.Recent, od)
	}
	day := int32(20000 + r.IntN(100))
	for range g.size(MaxPurchaseDays) {
		d := PurchaseDay{Day: day, Orders: uint16(1 + r.IntN(3)), Spend: g.money()}
		if g.extreme {
			d.Day, d.Orders = g.i32(), uint16(r.IntN(1<<16))
		}
		c.Purchases = append(c.Purchases, d)
		day += int32(1 + r.IntN(30))
	}
	e := &c.Engagement
	e.Sent, e.Delivered, e.Opened, e.Clicked, e.Bounced = g.u32(), g.u32(), g.u32(), g.u32(), g.u32()
	e.LastSent, e.LastOpen, e.LastClick, e.HistAt = g.time(), g.time(), g.time(), g.time()
	for range g.size(HoursPerWeek) {
		e.HourOfWeek[r.IntN(HoursPerWeek)] = float32(g.score())
	}
	for range g.size(SeenIDsCap) {
		c.SeenIDs = append(c.SeenIDs, r.Uint64())
	}
	return c
}

// roundTrip encodes c and decodes the bytes into a fresh Contact.
func roundTrip(t testing.TB, c *Contact) *Contact {
	t.Helper()
	var got Contact
	if err := DecodeContact(c.AppendEncoded(nil), &got); err != nil {
		t.Fatalf("decode of a fresh encoding: %v", err)
	}
	return &got
}

// normalizedContact returns a copy of c with empty slices set to nil: decoding
// into a reused Contact keeps capacity, so "empty" may be either.
func normalizedContact(c *Contact) Contact {
	n := *c
	nilIfEmpty(&n.Aliases)
	nilIfEmpty(&n.Traits)
	nilIfEmpty(&n.Consent.Lists)
	nilIfEmpty(&n.Recent)
	nilIfEmpty(&n.Categories)
	nilIfEmpty(&n.Products)
	nilIfEmpty(&n.Cart.Items)
	nilIfEmpty(&n.Purchases)
	nilIfEmpty(&n.SeenIDs)
	nilIfEmpty(&n.Orders.Recent)
	nilIfEmpty(&n.Scores.Lead)
	nilIfEmpty(&n.Scores.Transitions)
	if n.Orders.Recent != nil {
		n.Orders.Recent = slices.Clone(n.Orders.Recent)
		for i := range n.Orders.Recent {
			nilIfEmpty(&n.Orders.Recent[i].Categories)
		}
	}
	return n
}

func nilIfEmpty[T any](s *[]T) {
	if len(*s) == 0 {
		*s = nil
	}
}

// firstDiff names the first field where a and b differ, or returns "".
func firstDiff(a, b any) string {
	return diffValue("", reflect.ValueOf(a), reflect.ValueOf(b))
}

func diffValue(path string, a, b reflect.Value) string {
	switch a.Kind() {
	case reflect.Pointer:
		return diffValue(path, a.Elem(), b.Elem())
	case reflect.Struct:
		for i := range a.NumField() {
			if d := diffValue(path+"."+a.Type().Field(i).Name, a.Field(i), b.Field(i)); d != "" {
				return d
			}
		}
		return ""
	case reflect.Slice, reflect.Array:
		if a.Kind() == reflect.Slice && a.IsNil() != b.IsNil() {
			return fmt.Sprintf("%s: nil %v vs nil %v", path, a.IsNil(), b.IsNil())
		}
		if a.Len() != b.Len() {
			return fmt.Sprintf("%s: length %d vs %d", path, a.Len(), b.Len())
		}
		for i := range a.Len() {
			if d := diffValue(fmt.Sprintf("%s[%d]", path, i), a.Index(i), b.Index(i)); d != "" {
				return d
			}
		}
		return ""
	}
	if !reflect.DeepEqual(a.Interface(), b.Interface()) {
		return fmt.Sprintf("%s: %#v vs %#v", path, a.Interface(), b.Interface())
	}
	return ""
}

func TestContactRoundTrip(t *testing.T) {
	extreme := &Contact{
		Key:       "a:\x00\xff",
		FirstSeen: math.MaxInt64, LastSeen: math.MinInt64,
		Sessions: Sessions{Count: math.MaxUint32, Start: math.MinInt64, Last: math.MaxInt64},
		Recent: []RecentEvent{
			{Type: 255, At: math.MaxInt64}, {Type: EventUnknown, At: math.MinInt64}, {At: 0},
		},
		Categories: []Affinity{{"inf", math.Inf(1)}, {"neg-zero", math.Copysign(0, -1)}},
		Orders: Orders{
			Count: math.MinInt32, Revenue: math.MinInt64, Refunded: math.MaxInt64,
			Recent: []Order{{Day: math.MaxInt32}, {Day: math.MinInt32}, {Day: math.MaxInt32}},
		},
		Purchases:  []PurchaseDay{{Day: math.MinInt32, Orders: math.MaxUint16}, {Day: math.MaxInt32}},
		Engagement: EmailStats{LastSent: math.MinInt64, LastOpen: math.MaxInt64, HistAt: math.MaxInt64},
	}
	extreme.Engagement.HourOfWeek[0] = float32(math.Copysign(0, -1))
	extreme.Engagement.HourOfWeek[167] = float32(math.Inf(-1))
	extreme.Counts[NumEventTypes-1] = math.MaxUint32

	for _, tc := range []struct {
		name string
		c    *Contact
	}{
		{"zero", &Contact{}},
		{"full", fullContact()},
		{"typical", typicalContact()},
		{"extreme values", extreme},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := roundTrip(t, tc.c)
			if d := firstDiff(tc.c, got); d != "" {
				t.Fatalf("round trip changed the contact: %s", d)
			}
			// -0 and +0 compare equal as floats: check the bits survive.
			if !bytes.Equal(got.AppendEncoded(nil), tc.c.AppendEncoded(nil)) {
				t.Fatal("re-encoding the decoded contact gives different bytes")
			}
			// Decoding over a contact that held something else must
			// overwrite every field.
			reused := fullContact()
			reused.Engagement.HourOfWeek[100] = 9
			if err := DecodeContact(tc.c.AppendEncoded(nil), reused); err != nil {
				t.Fatal(err)
			}
			want := normalizedContact(tc.c)
			if d := firstDiff(&want, new(normalizedContact(reused))); d != "" {
				t.Fatalf("decoding into a used contact left old data: %s", d)
			}
		})
	}
}

func TestContactEncodingIsCompact(t *testing.T) {
	if n := len((&Contact{}).AppendEncoded(nil)); n != 2 {
		t.Errorf("zero contact: %d bytes, want 2 (version and end marker)", n)
	}
	// A tripwire, not a target: the typical contact encodes to about 1.3 kB,
	// most of it strings, affinity scores and event-id hashes.
	n := len(typicalContact().AppendEncoded(nil))
	t.Logf("typical contact: %d bytes", n)
	if n > 1400 {
		t.Errorf("typical contact: %d bytes, want at most 1400", n)
	}
}

// TestFullContactSetsEveryField fails when Contact gains a field that
// fullContact leaves zero, so the round trip covers every field.
func TestFullContactSetsEveryField(t *testing.T) {
	if missing := unsetFields("Contact", reflect.ValueOf(*fullContact())); len(missing) > 0 {
		t.Fatalf("fullContact leaves fields zero, set them: %s", strings.Join(missing, ", "))
	}
}

// unsetFields lists the zero fields of v: a struct needs every field set,
// a slice or array needs one element whose fields are all set.
func unsetFields(path string, v reflect.Value) []string {
	switch v.Kind() {
	case reflect.Struct:
		var missing []string
		for i := range v.NumField() {
			missing = append(missing, unsetFields(path+"."+v.Type().Field(i).Name, v.Field(i))...)
		}
		return missing
	case reflect.Slice, reflect.Array:
		var firstMissing []string
		for i := range v.Len() {
			m := unsetFields(path+"[*]", v.Index(i))
			if len(m) == 0 {
				return nil
			}
			if i == 0 {
				firstMissing = m
			}
		}
		if firstMissing == nil {
			return []string{path + " (empty)"}
		}
		return firstMissing
	}
	if v.IsZero() {
		return []string{path}
	}
	return nil
}

func TestContactRoundTripRandom(t *testing.T) {
	for seed := uint64(1); seed <= 3; seed++ {
		for _, extreme := range []bool{false, true} {
			t.Run(fmt.Sprintf("seed=%d,extreme=%v", seed, extreme), func(t *testing.T) {
				g := contactGen{r: rand.New(rand.NewPCG(seed, 0xC0DEC)), extreme: extreme}
				var reused Contact // decoded into again and again, as a worker does
				for i := range 60 {
					c := g.contact()
					data := c.AppendEncoded(nil)
					if err := DecodeContact(data, &reused); err != nil {
						t.Fatalf("contact %d: %v", i, err)
					}
					want := normalizedContact(c)
					if d := firstDiff(&want, new(normalizedContact(&reused))); d != "" {
						t.Fatalf("contact %d: round trip changed %s", i, d)
					}
					if got := roundTrip(t, c); !reflect.DeepEqual(c, got) {
						t.Fatalf("contact %d: round trip into a fresh contact changed %s", i, firstDiff(c, got))
					}
				}
			})
		}
	}
}

func TestDecodeContactTruncated(t *testing.T) {
	g := contactGen{r: rand.New(rand.NewPCG(7, 7)), extreme: true}
	for _, c := range []*Contact{{}, fullContact(), typicalContact(), g.contact(), g.contact()} {
		data := c.AppendEncoded(nil)
		for i := range len(data) {
			var got Contact
			err := DecodeContact(data[:i], &got)
			if !errors.Is(err, ErrCorrupt) {
				t.Fatalf("%q cut to %d of %d bytes: got %v, want ErrCorrupt", c.Key, i, len(data), err)
			}
		}
	}
}

// A section whose length is right but whose payload stops early (a buggy
// writer) is corrupt too: the fields a section was introduced with are all
// required.
func TestDecodeContactTruncatedSectionPayload(t *testing.T) {
	g := contactGen{r: rand.New(rand.NewPCG(8, 8)), extreme: true}
	for _, c := range []*Contact{fullContact(), typicalContact(), g.contact(), g.contact()} {
		secs := splitRecord(t, c.AppendEncoded(nil))
		for k, s := range secs {
			for _, cut := range cutOffsets(g.r, len(s.payload)) {
				edited := slices.Clone(secs)
				edited[k].payload = s.payload[:cut]
				var got Contact
				err := DecodeContact(joinRecord(contactFormatVersion, edited), &got)
				if !errors.Is(err, ErrCorrupt) {
					t.Fatalf("%s section cut to %d of %d bytes: got %v, want ErrCorrupt",
						recordSections[s.tag].name, cut, len(s.payload), err)
				}
			}
		}
	}
}

// cutOffsets returns the offsets to cut an n-byte payload at: all of them when
// it is small, else both ends and a sample, to keep the test quadratic
// only in small numbers.
func cutOffsets(r *rand.Rand, n int) []int {
	if n <= 1024 {
		out := make([]int, n)
		for i := range out {
			out[i] = i
		}
		return out
	}
	var out []int
	for i := range 256 {
		out = append(out, i, n-1-i)
	}
	for range 256 {
		out = append(out, r.IntN(n))
	}
	return out
}

// rawSection is a section of an encoded record, for tests that edit
// records the way another release would have written them.
type rawSection struct {
	tag     uint64
	payload []byte
}

func splitRecord(t *testing.T, data []byte) []rawSection {
	t.Helper()
	var out []rawSection
	b := data[1:]
	for {
		tag, n := binary.Uvarint(b)
		b = b[n:]
		if tag == secEnd {
			if len(b) != 0 {
				t.Fatalf("%d bytes after the end marker", len(b))
			}
			return out
		}
		l, n := binary.Uvarint(b)
		b = b[n:]
		out = append(out, rawSection{tag, b[:l]})
		b = b[l:]
	}
}

func joinRecord(version byte, secs []rawSection) []byte {
	out := []byte{version}
	for _, s := range secs {
		out = binary.AppendUvarint(out, s.tag)
		out = binary.AppendUvarint(out, uint64(len(s.payload)))
		out = append(out, s.payload...)
	}
	return append(out, secEnd)
}

func TestDecodeContactSkipsUnknownSections(t *testing.T) {
	c := fullContact()
	secs := splitRecord(t, c.AppendEncoded(nil))
	unknown := func(tag uint64, n int) rawSection {
		return rawSection{tag, bytes.Repeat([]byte{0xff}, n)}
	}
	for _, tc := range []struct {
		name string
		secs []rawSection
	}{
		{"first", slices.Concat([]rawSection{unknown(numSections, 3)}, secs)},
		{"middle", slices.Concat(secs[:4], []rawSection{unknown(99, 0)}, secs[4:])},
		{"last, long", slices.Concat(secs, []rawSection{unknown(1<<20, 300)})},
		{"several", slices.Concat([]rawSection{unknown(200, 1)}, secs, []rawSection{unknown(201, 2)})},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var got Contact
			if err := DecodeContact(joinRecord(contactFormatVersion, tc.secs), &got); err != nil {
				t.Fatal(err)
			}
			if d := firstDiff(c, &got); d != "" {
				t.Fatal(d)
			}
		})
	}
}

// A newer writer may append fields to a section: the bytes after the
// fields this reader knows are ignored.
func TestDecodeContactIgnoresAppendedFields(t *testing.T) {
	c := fullContact()
	secs := splitRecord(t, c.AppendEncoded(nil))
	for i := range secs {
		secs[i].payload = append(slices.Clip(secs[i].payload), 0x01, 0x80, 0x01)
	}
	var got Contact
	if err := DecodeContact(joinRecord(contactFormatVersion, secs), &got); err != nil {
		t.Fatal(err)
	}
	if d := firstDiff(c, &got); d != "" {
		t.Fatal(d)
	}
}

// A record written before a section existed lacks it: its fields decode as
// zero and the others are unaffected.
func TestDecodeContactMissingSections(t *testing.T) {
	c := fullContact()
	secs := splitRecord(t, c.AppendEncoded(nil))
	for i, s := range secs {
		name := recordSections[s.tag].name
		t.Run(name, func(t *testing.T) {
			got := fullContact() // decoded over, so stale values would show
			if err := DecodeContact(joinRecord(contactFormatVersion, slices.Delete(slices.Clone(secs), i, i+1)), got); err != nil {
				t.Fatal(err)
			}
			want := *c
			recordSections[s.tag].reset(&want)
			w := normalizedContact(&want)
			if d := firstDiff(&w, new(normalizedContact(got))); d != "" {
				t.Fatal(d)
			}
			if !recordSections[s.tag].empty(got) {
				t.Fatalf("fields of the missing %s section are not zero", name)
			}
		})
	}
}

func TestDecodeContactUnknownVersion(t *testing.T) {
	for _, v := range []byte{contactFormatVersion + 1, 255} {
		data := fullContact().AppendEncoded(nil)
		data[0] = v
		var got Contact
		err := DecodeContact(data, &got)
		if !errors.Is(err, ErrUnknownVersion) {
			t.Fatalf("version %d: got %v, want ErrUnknownVersion", v, err)
		}
		if !strings.Contains(err.Error(), "version "+strconv.Itoa(int(v))) {
			t.Errorf("version %d: error %q does not name the version", v, err)
		}
	}
}

func TestDecodeContactCorrupt(t *testing.T) {
	valid := fullContact().AppendEncoded(nil)
	section := func(tag uint64, payload ...byte) []byte {
		return joinRecord(contactFormatVersion, []rawSection{{tag, payload}})
	}
	uv := func(v uint64) []byte { return binary.AppendUvarint(nil, v) }
	for _, tc := range []struct {
		name string
		data []byte
		want string // in the error message
	}{
		{"empty", nil, "empty"},
		{"version 0", []byte{0, 0}, "version byte is 0"},
		{"no end marker", []byte{1}, "section tag: truncated"},
		{"bytes after end", append(slices.Clone(valid), 0), "after the end marker"},
		{"section longer than record", []byte{1, secTraits, 50, 0, 0}, "exceeds the 2 bytes left"},
		{"huge section length", slices.Concat([]byte{1, secTraits}, uv(math.MaxUint64), []byte{0}), "truncated"},
		{"varint overflow", slices.Concat([]byte{1}, bytes.Repeat([]byte{0xff}, 11)), "overflows"},
		{"duplicate section", joinRecord(1, []rawSection{{secSeenIDs, []byte{0}}, {secSeenIDs, []byte{0}}}), "seen ids section appears twice"},
		{"too many aliases", section(secIdentity, slices.Concat([]byte{0, 0, 0, 0, 0, 0}, uv(MaxAliases+1), bytes.Repeat([]byte{0}, 100))...), "aliases: 65 entries exceed the limit of 64"},
		{"count beyond bytes", section(secSeenIDs, slices.Concat(uv(100), make([]byte, 8*99))...), "seen ids: truncated: 100 entries"},
		{"huge count", section(secPurchases, uv(math.MaxUint64)...), "exceed the limit of 4096"},
		{"string longer than section", section(secTraits, 1, 9, 'a'), "trait name: truncated"},
		{"bool not 0 or 1", section(secConsent, 0, 1, 1, 'x', 2, 0), "list subscribed: not 0 or 1"},
		{"count out of uint32", section(secActivity, slices.Concat([]byte{0, 0, 1}, uv(1<<32), []byte{0, 0, 0})...), "count: out of range"},
		{"quantity out of int32", section(secCart, slices.Concat([]byte{0, 1, 0, 0}, binary.AppendVarint(nil, 1<<31), []byte{0})...), "item quantity: out of range"},
		{"purchase orders out of uint16", section(secPurchases, slices.Concat([]byte{1, 0}, uv(1<<16), []byte{0})...), "purchase day orders: out of range"},
		{"day out of int32", section(secPurchases, slices.Concat([]byte{1}, binary.AppendVarint(nil, 1<<40), []byte{1, 0})...), "purchase day: out of range"},
		{"histogram bins out of order", section(secEngagement, slices.Concat(make([]byte, 9), []byte{2, 5, 1, 0, 0, 0, 4, 1, 0, 0, 0})...), "histogram bin: bin 4 out of order"},
		{"histogram bin out of range", section(secEngagement, slices.Concat(make([]byte, 9), []byte{1, 168, 1, 0, 0, 0})...), "bin 168 out of order or range"},
		{"garbage", []byte("\x01{\"key\":\"c:42\"}"), ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var got Contact
			err := DecodeContact(tc.data, &got)
			if tc.name == "garbage" && errors.Is(err, ErrUnknownVersion) {
				return // '{' is a version byte from the future; also fine
			}
			if !errors.Is(err, ErrCorrupt) {
				t.Fatalf("got %v, want ErrCorrupt", err)
			}
			if !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error %q does not mention %q", err, tc.want)
			}
		})
	}
}

// The encoder writes at most the Max* bound of every list, so that whatever
// it writes DecodeContact accepts: the newest entries of time-ordered
// lists, the first ones of the others.
func TestEncodeContactClampsToBounds(t *testing.T) {
	c := &Contact{Key: "c:1"}
	for i := range MaxAliases + 3 {
		c.Aliases = append(c.Aliases, Key(fmt.Sprintf("a:%03d", i)))
	}
	for i := range RecentEventsCap + 5 {
		c.Recent = append(c.Recent, RecentEvent{Type: EventPageView, At: int64(i)})
	}
	for i := range MaxAffinities + 1 {
		c.Categories = append(c.Categories, Affinity{Name: strconv.Itoa(i), Score: float64(100 - i)})
	}
	c.Orders.Recent = []Order{{ID: "o", Categories: make([]string, MaxOrderCategories+2)}}
	for i := range MaxPurchaseDays + 2 {
		c.Purchases = append(c.Purchases, PurchaseDay{Day: int32(i), Orders: 1})
	}
	for i := range SeenIDsCap + 1 {
		c.SeenIDs = append(c.SeenIDs, uint64(i))
	}
	got := roundTrip(t, c)
	checks := []struct {
		name      string
		got, want any
	}{
		{"aliases", got.Aliases, c.Aliases[:MaxAliases]},
		{"recent", got.Recent, c.Recent[5:]},
		{"categories", got.Categories, c.Categories[:MaxAffinities]},
		{"order categories", got.Orders.Recent[0].Categories, c.Orders.Recent[0].Categories[:MaxOrderCategories]},
		{"purchases", got.Purchases, c.Purchases[2:]},
		{"seen ids", got.SeenIDs, c.SeenIDs[1:]},
	}
	for _, ch := range checks {
		if !reflect.DeepEqual(ch.got, ch.want) {
			t.Errorf("%s: %s", ch.name, firstDiff(ch.got, ch.want))
		}
	}
}

// Strings are copied out of the input: the caller may reuse its buffer
// (a Pebble value is only valid until the iterator moves).
func TestDecodeContactDoesNotAliasInput(t *testing.T) {
	want := fullContact()
	data := want.AppendEncoded(nil)
	var got Contact
	if err := DecodeContact(data, &got); err != nil {
		t.Fatal(err)
	}
	clear(data)
	if d := firstDiff(want, &got); d != "" {
		t.Fatalf("overwriting the input changed the contact: %s", d)
	}
}

func TestContactCodecAllocations(t *testing.T) {
	c := typicalContact()
	buf := c.AppendEncoded(nil)
	if n := testing.AllocsPerRun(100, func() { buf = c.AppendEncoded(buf[:0]) }); n != 0 {
		t.Errorf("encoding into a large enough buffer: %v allocations, want 0", n)
	}
	var into Contact
	if err := DecodeContact(buf, &into); err != nil {
		t.Fatal(err)
	}
	// Decoding the same record again into the same Contact reuses every
	// slice and every unchanged string.
	if n := testing.AllocsPerRun(100, func() { _ = DecodeContact(buf, &into) }); n != 0 {
		t.Errorf("decoding into a reused contact: %v allocations, want 0", n)
	}
}

// Golden files
//
// testdata/contact_v<N>.golden holds, in hex, a record written by the
// encoder of format version N for that version's golden contact. Golden
// files of older versions are kept forever and never regenerated: a
// contact written years ago is still in someone's Pebble (or changelog
// topic), and this test is how every release proves it still reads what
// every earlier release wrote. When the format moves to version N+1, add
// contact_v<N+1>.golden (go test -run Golden -update writes the current
// version's file) and a goldenContactV<N+1>, and keep the old entries.
// -update must only be used for a version no release has shipped yet.
var contactGoldens = []struct {
	version byte
	want    func() *Contact
}{
	{1, goldenContactV1},
}

func goldenPath(version byte) string {
	return filepath.Join("testdata", fmt.Sprintf("contact_v%d.golden", version))
}

func TestDecodeContactGolden(t *testing.T) {
	if *update {
		cur := contactGoldens[len(contactGoldens)-1]
		if cur.version != contactFormatVersion {
			t.Fatalf("-update: add an entry for version %d to contactGoldens first", contactFormatVersion)
		}
		if err := writeGolden(goldenPath(cur.version), cur.want().AppendEncoded(nil)); err != nil {
			t.Fatal(err)
		}
	}
	for _, g := range contactGoldens {
		t.Run(fmt.Sprintf("v%d", g.version), func(t *testing.T) {
			data, err := readGolden(goldenPath(g.version))
			if err != nil {
				t.Fatal(err)
			}
			if data[0] != g.version {
				t.Fatalf("%s starts with version %d", goldenPath(g.version), data[0])
			}
			var got Contact
			if err := DecodeContact(data, &got); err != nil {
				t.Fatalf("this build no longer reads version %d records: %v", g.version, err)
			}
			if d := firstDiff(g.want(), &got); d != "" {
				t.Fatalf("version %d record decodes differently: %s", g.version, d)
			}
		})
	}
}

func writeGolden(path string, data []byte) error {
	var b strings.Builder
	fmt.Fprintf(&b, "# Contact record, format version %d, written by state.(*Contact).AppendEncoded\n", data[0])
	b.WriteString("# for the golden contact of codec_test.go. Never regenerate once released.\n")
	h := hex.EncodeToString(data)
	for len(h) > 64 {
		b.WriteString(h[:64] + "\n")
		h = h[64:]
	}
	b.WriteString(h + "\n")
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return fmt.Errorf("write golden: %w", err)
	}
	if err := os.WriteFile(path, []byte(b.String()), 0o644); err != nil {
		return fmt.Errorf("write golden: %w", err)
	}
	return nil
}

func readGolden(path string) ([]byte, error) {
	text, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read golden (go test -run Golden -update creates the current version's): %w", err)
	}
	var h strings.Builder
	for line := range strings.Lines(string(text)) {
		if !strings.HasPrefix(line, "#") {
			h.WriteString(strings.TrimSpace(line))
		}
	}
	data, err := hex.DecodeString(h.String())
	if err != nil || len(data) == 0 {
		return nil, fmt.Errorf("read golden %s: not hex: %v", path, err)
	}
	return data, nil
}

func FuzzDecodeContact(f *testing.F) {
	g := contactGen{r: rand.New(rand.NewPCG(3, 4)), extreme: true}
	for _, c := range []*Contact{{}, fullContact(), typicalContact(), g.contact(), g.contact()} {
		f.Add(c.AppendEncoded(nil))
	}
	f.Add([]byte{})
	f.Add([]byte{1})
	f.Add([]byte{1, 0})
	f.Add([]byte{2, 0})
	f.Add([]byte{1, 99, 3, 1, 2, 3, 0})
	f.Add([]byte{1, secSeenIDs, 0xff, 0xff, 0xff, 0xff, 0x0f, 0})
	f.Add([]byte("not a contact at all"))
	f.Fuzz(func(t *testing.T, data []byte) {
		var c Contact
		if err := DecodeContact(data, &c); err != nil {
			if !errors.Is(err, ErrCorrupt) && !errors.Is(err, ErrUnknownVersion) {
				t.Fatalf("error wraps neither ErrCorrupt nor ErrUnknownVersion: %v", err)
			}
			return
		}
		enc := c.AppendEncoded(nil)
		var again Contact
		if err := DecodeContact(enc, &again); err != nil {
			t.Fatalf("re-encoding of a decoded contact does not decode: %v", err)
		}
		// The encoding is canonical, so equal contacts encode equally;
		// DeepEqual alone would fail on NaN scores, which are carried
		// bit for bit.
		if !bytes.Equal(enc, again.AppendEncoded(nil)) {
			t.Fatal("decode(encode(c)) encodes differently from c")
		}
		if !reflect.DeepEqual(c, again) && !hasNaN(&c) {
			t.Fatalf("decode(encode(c)) != c: %s", firstDiff(&c, &again))
		}
	})
}

func hasNaN(c *Contact) bool {
	for _, as := range [][]Affinity{c.Categories, c.Products} {
		for _, a := range as {
			if math.IsNaN(a.Score) {
				return true
			}
		}
	}
	for _, v := range c.Engagement.HourOfWeek {
		if math.IsNaN(float64(v)) {
			return true
		}
	}
	return false
}

func BenchmarkEncodeContact(b *testing.B) {
	c := typicalContact()
	buf := c.AppendEncoded(nil)
	b.SetBytes(int64(len(buf)))
	b.ReportAllocs()
	for b.Loop() {
		buf = c.AppendEncoded(buf[:0])
	}
}

func BenchmarkDecodeContact(b *testing.B) {
	data := typicalContact().AppendEncoded(nil)
	// reuse: a worker or API handler decoding into its own Contact.
	b.Run("reuse", func(b *testing.B) {
		var c Contact
		b.SetBytes(int64(len(data)))
		b.ReportAllocs()
		for b.Loop() {
			if err := DecodeContact(data, &c); err != nil {
				b.Fatal(err)
			}
		}
	})
	// fresh: every string and slice allocated.
	b.Run("fresh", func(b *testing.B) {
		b.SetBytes(int64(len(data)))
		b.ReportAllocs()
		for b.Loop() {
			var c Contact
			if err := DecodeContact(data, &c); err != nil {
				b.Fatal(err)
			}
		}
	})
}

// TestDecodeLegacySeenIDs: records written when the dedupe window held 128
// ids still decode, keeping the newest SeenIDsCap.
func TestDecodeLegacySeenIDs(t *testing.T) {
	payload := binary.AppendUvarint(nil, 128)
	for i := range 128 {
		payload = binary.LittleEndian.AppendUint64(payload, uint64(i+1))
	}
	rec := append([]byte{contactFormatVersion, secSeenIDs}, binary.AppendUvarint(nil, uint64(len(payload)))...)
	rec = append(append(rec, payload...), secEnd)
	var c Contact
	if err := DecodeContact(rec, &c); err != nil {
		t.Fatal(err)
	}
	if len(c.SeenIDs) != SeenIDsCap || c.SeenIDs[0] != uint64(128-SeenIDsCap+1) || c.SeenIDs[SeenIDsCap-1] != 128 {
		t.Fatalf("seen ids %d, first %d, last %d", len(c.SeenIDs), c.SeenIDs[0], c.SeenIDs[len(c.SeenIDs)-1])
	}
}
