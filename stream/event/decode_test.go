package event

import (
	"errors"
	"fmt"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"
	_ "time/tzdata" // time zone checks must not depend on the host's zoneinfo

	"github.com/kairos-engine/kairos/state"
)

var testNow = time.Date(2026, 11, 24, 7, 0, 0, 0, time.UTC)

func testDecoder() *Decoder {
	return NewDecoder(Config{Now: func() time.Time { return testNow }})
}

func ms(s string) int64 {
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		panic(err)
	}
	return t.UnixMilli()
}

// sameEvent compares got with want: locations by name, Props only when want
// has some, empty and nil slices alike.
func sameEvent(t *testing.T, got, want Event) {
	t.Helper()
	if (got.Context.Location == nil) != (want.Context.Location == nil) ||
		got.Context.Location != nil && got.Context.Location.String() != want.Context.Location.String() {
		t.Errorf("Location = %v, want %v", got.Context.Location, want.Context.Location)
	}
	got.Context.Location, want.Context.Location = nil, nil
	if want.Props == nil {
		got.Props = nil
	}
	for _, e := range []*Event{&got, &want} {
		if len(e.Items) == 0 {
			e.Items = nil
		}
		if len(e.Traits) == 0 {
			e.Traits = nil
		}
		if len(e.Props) == 0 {
			e.Props = nil
		}
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("decoded\n got %+v\nwant %+v", got, want)
	}
}

func TestDecodeContractExamples(t *testing.T) {
	paris, err := time.LoadLocation("Europe/Paris")
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		typ  state.EventType
		want Event
	}{
		{state.EventPageView, Event{
			ID: "evt-1001", AnonymousID: "a-7f3c", Time: ms("2026-11-24T05:59:58.120Z"),
			Context: Context{IP: "203.0.113.7", UserAgent: "Mozilla/5.0", Referrer: "https://www.google.com/",
				TimeZone: "Europe/Paris", Location: paris,
				UTMSource: "newsletter", UTMMedium: "email", UTMCampaign: "black-friday"},
			URL: "https://shop.example/shoes", Category: "shoes",
			Props: []Prop{{"url", "https://shop.example/shoes"}, {"category", "shoes"}},
		}},
		{state.EventProductView, Event{
			ID: "evt-1002", AnonymousID: "a-7f3c", Time: ms("2026-11-24T06:00:05Z"),
			SKU: "SHOE-42", Category: "shoes",
		}},
		{state.EventAddToCart, Event{
			ID: "evt-1003", AnonymousID: "a-7f3c", Time: ms("2026-11-24T06:01:10Z"),
			SKU: "SHOE-42", Category: "shoes", Quantity: 2, Price: 5990,
			Props: []Prop{{"sku", "SHOE-42"}, {"category", "shoes"}, {"quantity", "2"}, {"price", "59.90"}},
		}},
		{state.EventRemoveFromCart, Event{
			ID: "evt-1004", AnonymousID: "a-7f3c", Time: ms("2026-11-24T06:02:00Z"),
			SKU: "SHOE-42", Quantity: 1,
		}},
		{state.EventSearch, Event{
			ID: "evt-1005", AnonymousID: "a-7f3c", Time: ms("2026-11-24T06:03:00Z"),
			Query: "running shoes",
		}},
		{state.EventFormSubmit, Event{
			ID: "evt-1006", Email: "ann.lee@example.com", AnonymousID: "a-7f3c", Time: ms("2026-11-24T06:04:00Z"),
			Form: "whitepaper-download", Content: "state-of-retail-2026",
		}},
		{state.EventSignup, Event{
			ID: "evt-1007", Email: "ann.lee@example.com", Time: ms("2026-11-24T06:05:00Z"),
			List:   "newsletter",
			Traits: []state.Trait{{Name: "first_name", Value: "Ann"}, {Name: "country", Value: "FR"}},
			Props:  []Prop{{"list", "newsletter"}},
		}},
		{state.EventIdentify, Event{
			ID: "evt-1008", ContactID: "42", Email: "ann.lee@example.com", AnonymousID: "a-7f3c",
			Time:   ms("2026-11-24T06:06:00Z"),
			Traits: []state.Trait{{Name: "first_name", Value: "Ann"}, {Name: "job_title", Value: "CTO"}},
			Phone:  "+33612345678",
		}},
		{state.EventOrderPlaced, Event{
			ID: "ord-9001-placed", ContactID: "42", Time: ms("2026-11-24T06:10:00Z"),
			OrderID: "9001",
			Items: []Item{
				{SKU: "SHOE-42", Category: "shoes", Quantity: 2, Price: 5990},
				{SKU: "SOCK-1", Category: "socks", Quantity: 1, Price: 450},
			},
			Total: 12430, Currency: "EUR",
			Props: []Prop{{"order_id", "9001"}, {"total", "124.30"}, {"currency", "EUR"}},
		}},
		{state.EventOrderCancelled, Event{
			ID: "ord-9001-cancelled", ContactID: "42", Time: ms("2026-11-24T06:11:00Z"), OrderID: "9001",
		}},
		{state.EventOrderRefunded, Event{
			ID: "ord-9001-refund-1", ContactID: "42", Time: ms("2026-11-24T06:12:00Z"), OrderID: "9001", Amount: 450,
		}},
		{state.EventOrderShipped, Event{
			ID: "ord-9001-shipped", ContactID: "42", Time: ms("2026-11-24T06:13:00Z"), OrderID: "9001",
		}},
		{state.EventEmailSent, Event{
			ID: "msg-77-sent", Email: "ann.lee@example.com", Time: ms("2026-11-24T06:20:00Z"),
			Campaign: "black-friday", List: "newsletter",
		}},
		{state.EventEmailDelivered, Event{
			ID: "msg-77-delivered", Email: "ann.lee@example.com", Time: ms("2026-11-24T06:20:02Z"), Campaign: "black-friday",
		}},
		{state.EventEmailOpened, Event{
			ID: "msg-77-opened", Email: "ann.lee@example.com", Time: ms("2026-11-24T06:25:00Z"), Campaign: "black-friday",
		}},
		{state.EventEmailClicked, Event{
			ID: "msg-77-clicked", Email: "ann.lee@example.com", Time: ms("2026-11-24T06:26:00Z"),
			Campaign: "black-friday", URL: "https://shop.example/sale",
		}},
		{state.EventEmailBounced, Event{
			ID: "msg-78-bounced", Email: "old@example.com", Time: ms("2026-11-24T06:21:00Z"),
			Campaign: "black-friday", Bounce: BounceHard,
		}},
		{state.EventEmailUnsubscribed, Event{
			ID: "msg-77-unsub", Email: "ann.lee@example.com", Time: ms("2026-11-24T06:30:00Z"),
			Campaign: "black-friday", List: "newsletter",
		}},
		{state.EventEmailComplained, Event{
			ID: "msg-77-complaint", Email: "ann.lee@example.com", Time: ms("2026-11-24T06:31:00Z"), Campaign: "black-friday",
		}},
	}
	d := testDecoder()
	var e Event // one Event for all: reuse must not leak fields between events
	for _, tt := range tests {
		t.Run(tt.typ.String(), func(t *testing.T) {
			if err := d.Decode([]byte(example(tt.typ)), tt.typ.Stream(), &e); err != nil {
				t.Fatal(err)
			}
			tt.want.Type = tt.typ
			sameEvent(t, e, tt.want)
		})
	}
}

// TestDecodeValid covers the rules the contract examples do not show.
func TestDecodeValid(t *testing.T) {
	const ids = `"id":"e1","anonymous_id":"a1","timestamp":"2026-11-24T06:00:00Z"`
	at := ms("2026-11-24T06:00:00Z")
	tests := []struct {
		name   string
		stream state.Stream
		json   string
		want   Event
	}{
		{"page_view url from context", state.StreamClickstream,
			`{"type":"page_view",` + ids + `,"context":{"url":"https://x.example/a"}}`,
			Event{Type: state.EventPageView, URL: "https://x.example/a", Context: Context{URL: "https://x.example/a"}}},
		{"page_view without properties", state.StreamClickstream,
			`{"type":"page_view",` + ids + `}`,
			Event{Type: state.EventPageView}},
		{"null is absent", state.StreamClickstream,
			`{"type":"page_view",` + ids + `,"email":null,"contact_id":"","properties":null,"context":null}`,
			Event{Type: state.EventPageView}},
		{"unknown fields ignored", state.StreamClickstream,
			`{"type":"page_view",` + ids + `,"version":3,"extra":{"a":[1,2]}}`,
			Event{Type: state.EventPageView}},
		{"any stream on the re-key topic", 0,
			`{"type":"order_shipped",` + ids + `,"properties":{"order_id":"o1"}}`,
			Event{Type: state.EventOrderShipped, OrderID: "o1"}},
		{"escapes", state.StreamClickstream,
			`{"type":"search",` + ids + `,"properties":{"query":"caf\u00e9 \"noir\""}}`,
			Event{Type: state.EventSearch, Query: `café "noir"`}},
		{"add_to_cart defaults", state.StreamClickstream,
			`{"type":"add_to_cart",` + ids + `,"properties":{"sku":"S1"}}`,
			Event{Type: state.EventAddToCart, SKU: "S1", Quantity: 1}},
		{"identify with top-level traits", state.StreamClickstream,
			`{"type":"identify",` + ids + `,"properties":{"plan":"pro","seats":12,"trial":false,"vip":true,"phone":"+3312","nested":{"x":1},"gone":null}}`,
			Event{Type: state.EventIdentify, Phone: "+3312", Traits: []state.Trait{
				{Name: "plan", Value: "pro"}, {Name: "seats", Value: "12"}, {Name: "trial", Value: "false"}, {Name: "vip", Value: "true"}}}},
		{"identify links two ids", state.StreamClickstream,
			`{"type":"identify",` + ids + `,"contact_id":"c1"}`,
			Event{Type: state.EventIdentify, ContactID: "c1"}},
		{"properties.phone wins", state.StreamClickstream,
			`{"type":"identify",` + ids + `,"properties":{"phone":"+1","traits":{"phone":"+2","a":"b"}}}`,
			Event{Type: state.EventIdentify, Phone: "+1", Traits: []state.Trait{{Name: "a", Value: "b"}}}},
		{"signup traits from properties", state.StreamClickstream,
			`{"type":"signup",` + ids + `,"properties":{"list":"news","first_name":"Ann"}}`,
			Event{Type: state.EventSignup, List: "news", Traits: []state.Trait{{Name: "first_name", Value: "Ann"}}}},
		{"order defaults", state.StreamOrders,
			`{"type":"order_placed",` + ids + `,"properties":{"order_id":"o1","items":[{"sku":"S","price":0}],"total":0}}`,
			Event{Type: state.EventOrderPlaced, OrderID: "o1", Items: []Item{{SKU: "S", Quantity: 1}}, Currency: "EUR"}},
		{"order currency", state.StreamOrders,
			`{"type":"order_placed",` + ids + `,"properties":{"order_id":"o1","items":[{"sku":"S","price":1}],"total":1,"currency":"USD"}}`,
			Event{Type: state.EventOrderPlaced, OrderID: "o1", Items: []Item{{SKU: "S", Quantity: 1, Price: 100}}, Total: 100, Currency: "USD"}},
		{"refund of the whole order", state.StreamOrders,
			`{"type":"order_refunded",` + ids + `,"properties":{"order_id":"o1"}}`,
			Event{Type: state.EventOrderRefunded, OrderID: "o1", Amount: -1}},
		{"refund amount zero", state.StreamOrders,
			`{"type":"order_refunded",` + ids + `,"properties":{"order_id":"o1","amount":0}}`,
			Event{Type: state.EventOrderRefunded, OrderID: "o1", Amount: 0}},
		{"bounce_type", state.StreamEmail,
			`{"type":"bounced",` + ids + `,"properties":{"bounce_type":"soft"}}`,
			Event{Type: state.EventEmailBounced, Bounce: BounceSoft}},
		{"unsubscribe from all", state.StreamEmail,
			`{"type":"unsubscribed",` + ids + `,"properties":{"list":"all"}}`,
			Event{Type: state.EventEmailUnsubscribed}},
		{"email event without properties", state.StreamEmail,
			`{"type":"delivered",` + ids + `}`,
			Event{Type: state.EventEmailDelivered}},
		{"pretty-printed", state.StreamEmail,
			"{\n\t\"type\": \"opened\",\n\t\"id\": \"e1\", \"anonymous_id\": \"a1\",\r\n\t\"timestamp\": \"2026-11-24T06:00:00Z\",\n\t\"properties\": {\"n\": 1.5e2}\n}",
			Event{Type: state.EventEmailOpened, Props: []Prop{{"n", "1.5e2"}}}},
		{"white space around the JSON", state.StreamEmail,
			" \n{\"type\":\"opened\"," + ids + "}\n",
			Event{Type: state.EventEmailOpened}},
	}
	d := testDecoder()
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var e Event
			if err := d.Decode([]byte(tt.json), tt.stream, &e); err != nil {
				t.Fatal(err)
			}
			want := tt.want
			want.ID, want.Time = "e1", at
			if want.AnonymousID == "" {
				want.AnonymousID = "a1"
			}
			sameEvent(t, e, want)
		})
	}
}

func TestDecodeProps(t *testing.T) {
	var b strings.Builder
	b.WriteString(`{"type":"page_view","id":"e","anonymous_id":"a","timestamp":"2026-11-24T06:00:00Z","properties":{`)
	b.WriteString(`"s":"x","n":-1.50e3,"t":true,"f":false,"z":null,"o":{"a":1},"l":[1]`)
	for i := range MaxProps {
		fmt.Fprintf(&b, `,"p%d":%d`, i, i)
	}
	b.WriteString(`}}`)
	var e Event
	if err := testDecoder().Decode([]byte(b.String()), state.StreamClickstream, &e); err != nil {
		t.Fatal(err)
	}
	if len(e.Props) != MaxProps {
		t.Fatalf("len(Props) = %d, want %d", len(e.Props), MaxProps)
	}
	want := []Prop{{"s", "x"}, {"n", "-1.50e3"}, {"t", "true"}, {"f", "false"}, {"p0", "0"}}
	if !slices.Equal(e.Props[:5], want) {
		t.Errorf("Props = %v, want prefix %v", e.Props[:5], want)
	}
	if v, ok := e.Prop("n"); !ok || v != "-1.50e3" {
		t.Errorf(`Prop("n") = %q, %v`, v, ok)
	}
	if _, ok := e.Prop("p63"); ok {
		t.Error("Props kept more than MaxProps properties")
	}
}

// TestDecodeErrors triggers every Reason and checks the Field it names.
func TestDecodeErrors(t *testing.T) {
	const ids = `"id":"e1","anonymous_id":"a1","timestamp":"2026-11-24T06:00:00Z"`
	order := func(props string) string {
		return `{"type":"order_placed",` + ids + `,"properties":{` + props + `}}`
	}
	withProps := func(typ, props string) string {
		return `{"type":"` + typ + `",` + ids + `,"properties":{` + props + `}}`
	}
	withCtx := func(ctx string) string {
		return `{"type":"page_view",` + ids + `,"context":{` + ctx + `}}`
	}
	envelope := func(fields string) string { return `{"type":"page_view",` + fields + `}` }
	traits := func(n int) string {
		var b strings.Builder
		for i := range n {
			if i > 0 {
				b.WriteByte(',')
			}
			fmt.Fprintf(&b, `"t%d":%d`, i, i)
		}
		return b.String()
	}
	items := func(n int) string {
		return strings.TrimSuffix(strings.Repeat(`{"sku":"s","price":1},`, n), ",")
	}
	tests := []struct {
		name   string
		stream state.Stream
		json   string
		reason Reason
		field  string
	}{
		// invalid_json
		{"empty", 0, ``, ReasonInvalidJSON, ""},
		{"truncated", 0, `{"type":"page_view"`, ReasonInvalidJSON, ""},
		{"array", 0, `[1,2]`, ReasonInvalidJSON, ""},
		{"string", 0, `"page_view"`, ReasonInvalidJSON, ""},
		{"trailing data", 0, `{"a":1} {"b":2}`, ReasonInvalidJSON, ""},
		{"NaN", 0, `{"type":"page_view",` + ids + `,"properties":{"x":NaN}}`, ReasonInvalidJSON, "properties.x"},
		{"Inf", 0, `{"type":"page_view",` + ids + `,"properties":{"x":-Inf}}`, ReasonInvalidJSON, "properties.x"},
		{"leading zero", 0, `{"type":"page_view",` + ids + `,"properties":{"x":01}}`, ReasonInvalidJSON, "properties.x"},
		{"raw control char", 0, "{\"type\":\"page_view\",\"id\":\"a\tb\"}", ReasonInvalidJSON, ""},
		{"bad escape", 0, `{"type":"page_view","id":"a\qb"}`, ReasonInvalidJSON, ""},
		// fastjson's validator, which the decoder used to run, misses a
		// control character before an escape in the same string.
		{"raw control char before an escape", 0, "{\"type\":\"page_view\"," + ids + ",\"properties\":{\"note\":\"x\x01\\ty\"}}", ReasonInvalidJSON, ""},
		{"invalid UTF-8", 0, "{\"type\":\"page_view\",\"id\":\"\xff\"}", ReasonInvalidJSON, ""},
		{"too deep", 0, strings.Repeat(`{"a":`, 400) + `1` + strings.Repeat(`}`, 400), ReasonInvalidJSON, ""},
		{"bad number deep inside", 0, `{"type":"page_view",` + ids + `,"properties":{"meta":{"list":[1,{"a":1.}]}}}`, ReasonInvalidJSON, "properties.meta.list[1].a"},
		{"plus sign", 0, `{"type":"page_view",` + ids + `,"properties":{"x":+1}}`, ReasonInvalidJSON, "properties.x"},
		{"bad number with escapes elsewhere", 0, `{"type":"page_view",` + ids + `,"properties":{"q":"\u00e9","x":1e}}`, ReasonInvalidJSON, ""},
		{"duplicate key deep inside", 0, `{"type":"page_view",` + ids + `,"properties":{"meta":[{"a":1,"b":2,"a":3}]}}`, ReasonInvalidJSON, "properties.meta[0].a"},
		{"duplicate among many keys", 0, `{"type":"page_view",` + ids + `,"properties":{"k1":1,"k2":1,"k3":1,"k4":1,"k5":1,"k6":1,"k7":1,"k8":1,"k9":1,"k10":1,"k11":1,"k12":1,"k13":1,"k14":1,"k15":1,"k16":1,"k17":1,"k9":2}}`, ReasonInvalidJSON, "properties.k9"},
		{"duplicate envelope key", 0, `{"type":"page_view","type":"order_placed",` + ids + `}`, ReasonInvalidJSON, "type"},
		{"duplicate property", 0, withProps("product_view", `"sku":"a","sku":"b"`), ReasonInvalidJSON, "properties.sku"},
		{"duplicate item key", 0, order(`"order_id":"o","total":1,"items":[{"sku":"a","price":1},{"sku":"a","price":1,"price":2}]`), ReasonInvalidJSON, "properties.items[1].price"},
		{"bad number in an unknown field", 0, `{"type":"page_view",` + ids + `,"version":01}`, ReasonInvalidJSON, "version"},
		{"duplicate in context", 0, withCtx(`"ip":"a","ip":"b"`), ReasonInvalidJSON, "context.ip"},
		{"duplicate in utm", 0, withCtx(`"utm":{"source":"a","source":"b"}`), ReasonInvalidJSON, "context.utm.source"},
		{"bad number in context", 0, withCtx(`"screen":{"w":-01}`), ReasonInvalidJSON, "context.screen.w"},
		{"duplicate trait", 0, withProps("identify", `"traits":{"a":1,"a":2}`), ReasonInvalidJSON, "properties.traits.a"},
		// too_large
		{"too large", 0, `{"type":"page_view",` + ids + `,"properties":{"pad":"` + strings.Repeat("x", DefaultMaxSize) + `"}}`, ReasonTooLarge, ""},
		// unknown_type
		{"unknown type", 0, `{"type":"purchase",` + ids + `}`, ReasonUnknownType, "type"},
		{"type case", 0, `{"type":"Page_View",` + ids + `}`, ReasonUnknownType, "type"},
		// wrong_topic
		{"order on clickstream", state.StreamClickstream, order(`"order_id":"o"`), ReasonWrongTopic, "type"},
		{"page_view on email", state.StreamEmail, envelope(ids), ReasonWrongTopic, "type"},
		{"opened on orders", state.StreamOrders, `{"type":"opened",` + ids + `}`, ReasonWrongTopic, "type"},
		// missing_field
		{"no type", 0, `{` + ids + `}`, ReasonMissingField, "type"},
		{"empty type", 0, `{"type":"",` + ids + `}`, ReasonMissingField, "type"},
		{"empty timestamp", 0, envelope(`"id":"e","anonymous_id":"a","timestamp":""`), ReasonMissingField, "timestamp"},
		{"null type", 0, `{"type":null,` + ids + `}`, ReasonMissingField, "type"},
		{"no id", 0, envelope(`"anonymous_id":"a","timestamp":"2026-11-24T06:00:00Z"`), ReasonMissingField, "id"},
		{"empty id", 0, envelope(`"id":"","anonymous_id":"a","timestamp":"2026-11-24T06:00:00Z"`), ReasonMissingField, "id"},
		{"no identifier", 0, envelope(`"id":"e","timestamp":"2026-11-24T06:00:00Z"`), ReasonMissingField, "contact_id|email|anonymous_id"},
		{"empty identifiers", 0, envelope(`"id":"e","contact_id":"","email":null,"timestamp":"2026-11-24T06:00:00Z"`), ReasonMissingField, "contact_id|email|anonymous_id"},
		{"no timestamp", 0, envelope(`"id":"e","anonymous_id":"a"`), ReasonMissingField, "timestamp"},
		{"sku", 0, withProps("product_view", `"category":"c"`), ReasonMissingField, "properties.sku"},
		{"sku without properties", 0, `{"type":"add_to_cart",` + ids + `}`, ReasonMissingField, "properties.sku"},
		{"empty query", 0, withProps("search", `"query":""`), ReasonMissingField, "properties.query"},
		{"form", 0, withProps("form_submit", `"content":"x"`), ReasonMissingField, "properties.form"},
		{"list", 0, withProps("signup", ``), ReasonMissingField, "properties.list"},
		{"identify with nothing to do", 0, withProps("identify", ``), ReasonMissingField, "properties.traits"},
		{"order_id", 0, order(`"items":[{"sku":"a","price":1}],"total":1`), ReasonMissingField, "properties.order_id"},
		{"items", 0, order(`"order_id":"o","total":1`), ReasonMissingField, "properties.items"},
		{"item sku", 0, order(`"order_id":"o","total":1,"items":[{"sku":"a","price":1},{"price":1}]`), ReasonMissingField, "properties.items[1].sku"},
		{"item price", 0, order(`"order_id":"o","total":1,"items":[{"sku":"a"}]`), ReasonMissingField, "properties.items[0].price"},
		{"total", 0, order(`"order_id":"o","items":[{"sku":"a","price":1}]`), ReasonMissingField, "properties.total"},
		{"cancel order_id", 0, withProps("order_cancelled", ``), ReasonMissingField, "properties.order_id"},
		{"bounce kind", 0, withProps("bounced", `"campaign":"c"`), ReasonMissingField, "properties.type"},
		// invalid_field
		{"type not a string", 0, `{"type":7,` + ids + `}`, ReasonInvalidField, "type"},
		{"id too long", 0, envelope(`"id":"` + strings.Repeat("i", MaxIDLen+1) + `","anonymous_id":"a","timestamp":"2026-11-24T06:00:00Z"`), ReasonInvalidField, "id"},
		{"id not a string", 0, envelope(`"id":12,"anonymous_id":"a","timestamp":"2026-11-24T06:00:00Z"`), ReasonInvalidField, "id"},
		{"contact_id number", 0, envelope(`"id":"e","contact_id":42,"timestamp":"2026-11-24T06:00:00Z"`), ReasonInvalidField, "contact_id"},
		{"anonymous_id control char", 0, envelope(`"id":"e","anonymous_id":"a\u0000","timestamp":"2026-11-24T06:00:00Z"`), ReasonInvalidField, "anonymous_id"},
		{"contact_id C1 control", 0, envelope(`"id":"e","contact_id":"a\u0085","timestamp":"2026-11-24T06:00:00Z"`), ReasonInvalidField, "contact_id"},
		{"email without @", 0, envelope(`"id":"e","email":"ann.example.com","timestamp":"2026-11-24T06:00:00Z"`), ReasonInvalidField, "email"},
		{"properties not an object", 0, `{"type":"page_view",` + ids + `,"properties":[1]}`, ReasonInvalidField, "properties"},
		{"property too long", 0, withProps("page_view", `"note":"`+strings.Repeat("x", MaxStringLen+1)+`"`), ReasonInvalidField, "properties.note"},
		{"property name too long", 0, withProps("page_view", `"`+strings.Repeat("n", MaxNameLen+1)+`":1`), ReasonInvalidField, "properties." + strings.Repeat("n", 64) + "..."},
		{"sku not a string", 0, withProps("product_view", `"sku":42`), ReasonInvalidField, "properties.sku"},
		{"sku control char", 0, withProps("product_view", `"sku":"a\nb"`), ReasonInvalidField, "properties.sku"},
		{"quantity zero", 0, withProps("add_to_cart", `"sku":"a","quantity":0`), ReasonInvalidField, "properties.quantity"},
		{"quantity fraction", 0, withProps("remove_from_cart", `"sku":"a","quantity":1.5`), ReasonInvalidField, "properties.quantity"},
		{"quantity string", 0, withProps("add_to_cart", `"sku":"a","quantity":"2"`), ReasonInvalidField, "properties.quantity"},
		{"quantity huge", 0, withProps("add_to_cart", `"sku":"a","quantity":99999999999999999999`), ReasonInvalidField, "properties.quantity"},
		{"price negative", 0, withProps("add_to_cart", `"sku":"a","price":-1`), ReasonInvalidField, "properties.price"},
		{"price exponent", 0, withProps("add_to_cart", `"sku":"a","price":1e3`), ReasonInvalidField, "properties.price"},
		{"price as string", 0, withProps("add_to_cart", `"sku":"a","price":"19.99"`), ReasonInvalidField, "properties.price"},
		{"price overflow", 0, withProps("add_to_cart", `"sku":"a","price":123456789012345678901234567890`), ReasonInvalidField, "properties.price"},
		{"items not an array", 0, order(`"order_id":"o","total":1,"items":{}`), ReasonInvalidField, "properties.items"},
		{"items empty", 0, order(`"order_id":"o","total":1,"items":[]`), ReasonInvalidField, "properties.items"},
		{"too many items", 0, order(`"order_id":"o","total":1,"items":[` + items(MaxItems+1) + `]`), ReasonInvalidField, "properties.items"},
		{"item not an object", 0, order(`"order_id":"o","total":1,"items":[{"sku":"a","price":1},"b"]`), ReasonInvalidField, "properties.items[1]"},
		{"item quantity", 0, order(`"order_id":"o","total":1,"items":[{"sku":"a","price":1,"quantity":-2}]`), ReasonInvalidField, "properties.items[0].quantity"},
		{"item price negative", 0, order(`"order_id":"o","total":1,"items":[{"sku":"a","price":-0.01}]`), ReasonInvalidField, "properties.items[0].price"},
		{"total negative", 0, order(`"order_id":"o","total":-5,"items":[{"sku":"a","price":1}]`), ReasonInvalidField, "properties.total"},
		{"currency lower case", 0, order(`"order_id":"o","total":1,"items":[{"sku":"a","price":1}],"currency":"eur"`), ReasonInvalidField, "properties.currency"},
		{"currency symbol", 0, order(`"order_id":"o","total":1,"items":[{"sku":"a","price":1}],"currency":"€"`), ReasonInvalidField, "properties.currency"},
		{"refund negative", 0, withProps("order_refunded", `"order_id":"o","amount":-1`), ReasonInvalidField, "properties.amount"},
		{"bounce kind unknown", 0, withProps("bounced", `"type":"blocked"`), ReasonInvalidField, "properties.type"},
		{"bounce kinds disagree", 0, withProps("bounced", `"type":"hard","bounce_type":"soft"`), ReasonInvalidField, "properties.bounce_type"},
		{"traits not an object", 0, withProps("identify", `"traits":["a"]`), ReasonInvalidField, "properties.traits"},
		{"nested trait", 0, withProps("identify", `"traits":{"address":{"city":"Lyon"}}`), ReasonInvalidField, "properties.traits.address"},
		{"trait too long", 0, withProps("signup", `"list":"l","traits":{"bio":"`+strings.Repeat("b", state.MaxTraitLen+1)+`"}`), ReasonInvalidField, "properties.traits.bio"},
		{"too many traits", 0, withProps("identify", `"traits":{`+traits(state.MaxTraits+1)+`}`), ReasonInvalidField, "properties.traits"},
		{"trait name too long", 0, withProps("identify", `"traits":{"`+strings.Repeat("n", MaxNameLen+1)+`":1}`), ReasonInvalidField, "properties.traits." + strings.Repeat("n", 64) + "..."},
		{"phone too long", 0, withProps("identify", `"traits":{"phone":"`+strings.Repeat("1", state.MaxTraitLen+1)+`"}`), ReasonInvalidField, "properties.traits.phone"},
		{"phone control char", 0, withProps("identify", `"phone":"+33\u0007"`), ReasonInvalidField, "properties.phone"},
		{"user agent too long", 0, withCtx(`"user_agent":"` + strings.Repeat("u", MaxStringLen+1) + `"`), ReasonInvalidField, "context.user_agent"},
		{"phone not a string", 0, withProps("identify", `"phone":33612345678`), ReasonInvalidField, "properties.phone"},
		{"context not an object", 0, `{"type":"page_view",` + ids + `,"context":"web"}`, ReasonInvalidField, "context"},
		{"context ip not a string", 0, withCtx(`"ip":1`), ReasonInvalidField, "context.ip"},
		{"unknown time zone", 0, withCtx(`"timezone":"Mars/Olympus_Mons"`), ReasonInvalidField, "context.timezone"},
		{"utm not an object", 0, withCtx(`"utm":"news"`), ReasonInvalidField, "context.utm"},
		{"utm source", 0, withCtx(`"utm":{"source":["a"]}`), ReasonInvalidField, "context.utm.source"},
		// bad_timestamp
		{"timestamp as number", 0, envelope(`"id":"e","anonymous_id":"a","timestamp":1795500000000`), ReasonBadTimestamp, "timestamp"},
		{"timestamp without zone", 0, envelope(`"id":"e","anonymous_id":"a","timestamp":"2026-11-24T06:00:00"`), ReasonBadTimestamp, "timestamp"},
		{"timestamp date only", 0, envelope(`"id":"e","anonymous_id":"a","timestamp":"2026-11-24"`), ReasonBadTimestamp, "timestamp"},
		{"timestamp month 13", 0, envelope(`"id":"e","anonymous_id":"a","timestamp":"2026-13-01T00:00:00Z"`), ReasonBadTimestamp, "timestamp"},
		{"timestamp 30 February", 0, envelope(`"id":"e","anonymous_id":"a","timestamp":"2028-02-30T00:00:00Z"`), ReasonBadTimestamp, "timestamp"},
		{"timestamp too old", 0, envelope(`"id":"e","anonymous_id":"a","timestamp":"1970-01-01T00:00:00Z"`), ReasonBadTimestamp, "timestamp"},
		{"timestamp far future", 0, envelope(`"id":"e","anonymous_id":"a","timestamp":"2026-11-25T07:00:00.001Z"`), ReasonBadTimestamp, "timestamp"},
	}
	d := testDecoder()
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := Event{ID: "stale", Items: []Item{{SKU: "stale"}}}
			err := d.Decode([]byte(tt.json), tt.stream, &e)
			var de *Error
			if !errors.As(err, &de) {
				t.Fatalf("Decode error = %v, want *Error %s", err, tt.reason)
			}
			if de.Reason != tt.reason || de.Field != tt.field {
				t.Fatalf("got %s at %q (%v), want %s at %q", de.Reason, de.Field, err, tt.reason, tt.field)
			}
			if de.Detail == "" {
				t.Errorf("no detail: %v", err)
			}
			if e.ID != "" || len(e.Items) != 0 {
				t.Errorf("event not reset after an error: %+v", e)
			}
		})
	}
}

func TestErrorMessage(t *testing.T) {
	var e Event
	err := testDecoder().Decode([]byte(`{"type":"order_cancelled","id":"e","contact_id":"c","timestamp":"2026-11-24T06:00:00Z","properties":{}}`), state.StreamOrders, &e)
	if got, want := fmt.Sprint(err), "missing_field: properties.order_id: required for order_cancelled"; got != want {
		t.Errorf("message = %q, want %q", got, want)
	}
	wrapped := fmt.Errorf("partition 3 offset 42: %w", err)
	var de *Error
	if !errors.As(wrapped, &de) || de.Reason != ReasonMissingField {
		t.Errorf("errors.As through a wrap failed: %v", wrapped)
	}
	if got := (&Error{Reason: ReasonTooLarge}).Error(); got != "too_large" {
		t.Errorf("bare reason message = %q", got)
	}
}

func TestReasons(t *testing.T) {
	rs := Reasons()
	if len(rs) != 7 {
		t.Fatalf("Reasons() = %v", rs)
	}
	seen := map[Reason]bool{}
	for _, r := range rs {
		if seen[r] || r == "" || strings.ToLower(string(r)) != string(r) {
			t.Errorf("bad or repeated reason %q", r)
		}
		seen[r] = true
	}
}

func TestMoney(t *testing.T) {
	tests := []struct {
		in   string
		want int64
		bad  bool
	}{
		{in: "19.99", want: 1999},
		{in: "20", want: 2000},
		{in: "19.9", want: 1990},
		{in: "19.90", want: 1990},
		{in: "0", want: 0},
		{in: "0.00", want: 0},
		{in: "0.01", want: 1},
		{in: "0.125", want: 13},
		{in: "0.124", want: 12},
		{in: "0.1249999", want: 12},
		{in: "0.995", want: 100},
		{in: "19.994", want: 1999},
		{in: "19.995", want: 2000},
		{in: "10000000000000", want: MaxMoney},
		{in: "10000000000000.00", want: MaxMoney},
		{in: "10000000000000.01", bad: true},
		{in: "9999999999999.999", want: MaxMoney},
		{in: "123456789012345678901234567890", bad: true},
		{in: "-1", bad: true},
		{in: "-0", bad: true},
		{in: "1e3", bad: true},
		{in: "1.5E2", bad: true},
		{in: "NaN", bad: true},
		{in: "", bad: true},
		{in: ".5", bad: true},
		{in: "1.", bad: true},
		{in: "1.2.3", bad: true},
	}
	for _, tt := range tests {
		got, problem := parseMoney(tt.in)
		if tt.bad != (problem != "") || got != tt.want {
			t.Errorf("parseMoney(%q) = %d, %q; want %d, bad %v", tt.in, got, problem, tt.want, tt.bad)
		}
	}
}

func TestQuantity(t *testing.T) {
	tests := []struct {
		in   string
		want int32
	}{
		{"1", 1}, {"12", 12}, {"1000000", MaxQuantity},
		{"0", 0}, {"1000001", 0}, {"-1", 0}, {"1.0", 0}, {"1e2", 0}, {"", 0},
	}
	for _, tt := range tests {
		got, problem := parseQuantity(tt.in)
		if got != tt.want || (tt.want == 0) != (problem != "") {
			t.Errorf("parseQuantity(%q) = %d, %q; want %d", tt.in, got, problem, tt.want)
		}
	}
}

func TestParseTime(t *testing.T) {
	good := []string{
		"2026-11-24T06:00:00Z",
		"2026-11-24T06:00:00.123Z",
		"2026-11-24T06:00:00.1Z",
		"2026-11-24T06:00:00.123456789Z",
		"2026-11-24T07:00:00+01:00",
		"2026-11-24T01:30:00.5-04:30",
		"2026-11-24T06:00:00-00:00",
		"2028-02-29T23:59:59.999+14:00",
		"1990-01-01T00:00:00Z",
		"2000-02-29T12:00:00Z",
		"0001-01-01T00:00:00Z",
		"9999-12-31T23:59:59.999Z",
		"1969-12-31T23:59:59.999Z",
	}
	for _, s := range good {
		want, err := time.Parse(time.RFC3339Nano, s)
		if err != nil {
			t.Fatalf("bad test input %q: %v", s, err)
		}
		got, ok := parseTime(s)
		if !ok || got != want.UnixMilli() {
			t.Errorf("parseTime(%q) = %d, %v; want %d", s, got, ok, want.UnixMilli())
		}
	}
	if got, ok := parseTime("2026-11-24t06:00:00z"); !ok || got != ms("2026-11-24T06:00:00Z") {
		t.Errorf("lower-case t and z refused")
	}
	bad := []string{
		"", "2026-11-24", "2026-11-24T06:00Z", "2026-11-24T06:00:00",
		"2026-11-24 06:00:00Z", "2026-11-24T06:00:00.Z", "2026-11-24T06:00:00+0100",
		"2026-11-24T06:00:00+01", "2026-11-24T24:00:00Z", "2026-11-24T06:60:00Z",
		"2026-11-24T06:00:60Z", "2026-00-24T06:00:00Z", "2026-11-31T06:00:00Z",
		"2027-02-29T06:00:00Z", "1900-02-29T06:00:00Z", "2026-11-24T06:00:00+24:00",
		"2026-11-24T06:00:00+01:60", "+2026-11-24T06:00:00Z", "2026-11-24T06:00:00ZZ",
		"2026-1a-24T06:00:00Z", "2026-11-24T06:00:00,123Z", "2026-11-24T06:00:00 Z",
	}
	for _, s := range bad {
		if got, ok := parseTime(s); ok {
			t.Errorf("parseTime(%q) = %d, want failure", s, got)
		}
	}
}

func TestEmailNormalisation(t *testing.T) {
	tests := []struct {
		in, want string
		bad      bool
	}{
		{in: "ann@example.com", want: "ann@example.com"},
		{in: "  Ann.Lee@Example.COM ", want: "ann.lee@example.com"},
		{in: "ANN+tag@EXAMPLE.com", want: "ann+tag@example.com"},
		{in: "Émile@Exemple.fr", want: "émile@exemple.fr"},
		{in: "a@b", want: "a@b"},
		{in: "@example.com", bad: true},
		{in: "ann@", bad: true},
		{in: "ann@x@example.com", bad: true},
		{in: "ann lee@example.com", bad: true},
		{in: "ann", bad: true},
		{in: "   ", bad: true},
	}
	d := testDecoder()
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			var e Event
			js := `{"type":"opened","id":"e","email":"` + tt.in + `","timestamp":"2026-11-24T06:00:00Z"}`
			err := d.Decode([]byte(js), state.StreamEmail, &e)
			if tt.bad {
				var de *Error
				if !errors.As(err, &de) || de.Reason != ReasonInvalidField || de.Field != "email" {
					t.Fatalf("err = %v, want invalid_field at email", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if e.Email != tt.want {
				t.Errorf("Email = %q, want %q", e.Email, tt.want)
			}
			if got := e.PrimaryKey(); got != state.MakeKey(state.IDEmail, tt.want) {
				t.Errorf("PrimaryKey = %q", got)
			}
		})
	}
}

func TestTimeZones(t *testing.T) {
	tests := []struct {
		tz string
		ok bool
	}{
		{"Europe/Paris", true},
		{"America/New_York", true},
		{"Asia/Kolkata", true},
		{"UTC", true},
		{"Etc/GMT+5", true},
		{"", true}, // absent
		{"Local", false},
		{"europe/paris", false},
		{"Mars/Olympus_Mons", false},
		{"../../etc/passwd", false},
		{"/usr/share/zoneinfo/UTC", false},
		{"+01:00", false},
	}
	d := testDecoder()
	for round := range 2 { // the second round is served by the cache
		for _, tt := range tests {
			t.Run(fmt.Sprintf("%d/%s", round, tt.tz), func(t *testing.T) {
				var e Event
				js := `{"type":"page_view","id":"e","anonymous_id":"a","timestamp":"2026-11-24T06:00:00Z","context":{"timezone":"` + tt.tz + `"}}`
				err := d.Decode([]byte(js), state.StreamClickstream, &e)
				if !tt.ok {
					var de *Error
					if !errors.As(err, &de) || de.Reason != ReasonInvalidField || de.Field != "context.timezone" {
						t.Fatalf("err = %v, want invalid_field at context.timezone", err)
					}
					return
				}
				if err != nil {
					t.Fatal(err)
				}
				if e.Context.TimeZone != tt.tz {
					t.Errorf("TimeZone = %q", e.Context.TimeZone)
				}
				if tt.tz != "" && (e.Context.Location == nil || e.Context.Location.String() != tt.tz) {
					t.Errorf("Location = %v", e.Context.Location)
				}
			})
		}
	}
	if len(d.locs) != len(tests)-1 {
		t.Errorf("cache holds %d names, want %d", len(d.locs), len(tests)-1)
	}
}

// TestLocationCacheBounded: random names from a producer must not grow the
// cache without limit, nor keep valid names out of it.
func TestLocationCacheBounded(t *testing.T) {
	d := testDecoder()
	for i := range maxBadLocations + 10 {
		if d.location(fmt.Sprintf("Nowhere/%d", i)) != nil {
			t.Fatal("unexpected location")
		}
	}
	if len(d.locs) != maxBadLocations {
		t.Errorf("cache holds %d names, want %d", len(d.locs), maxBadLocations)
	}
	if d.location("Europe/Paris") == nil {
		t.Fatal("a full cache must still resolve names")
	}
	if _, ok := d.locs["Europe/Paris"]; !ok {
		t.Error("a valid name was not cached")
	}
}

// TestFutureLimitFollowsClock: the decoder caches Now+MaxFuture, and must
// still accept an event that only became acceptable as the clock moved.
func TestFutureLimitFollowsClock(t *testing.T) {
	now := testNow
	d := NewDecoder(Config{Now: func() time.Time { return now }})
	decode := func(ts string) error {
		var e Event
		return d.Decode([]byte(`{"type":"opened","id":"e","email":"a@b","timestamp":"`+ts+`"}`), 0, &e)
	}
	if err := decode("2026-11-25T06:00:00Z"); err != nil { // now+23h
		t.Fatal(err)
	}
	if err := decode("2026-11-25T08:00:00Z"); err == nil { // now+25h
		t.Fatal("event 25h ahead accepted")
	}
	now = now.Add(2 * time.Hour)
	if err := decode("2026-11-25T08:00:00Z"); err != nil {
		t.Fatalf("event 23h ahead of the new time refused: %v", err)
	}
}

func TestTooLargeIsNotParsed(t *testing.T) {
	d := NewDecoder(Config{MaxSize: 10, Now: func() time.Time { return testNow }})
	var e Event
	err := d.Decode([]byte(`{not even json}`), 0, &e)
	var de *Error
	if !errors.As(err, &de) || de.Reason != ReasonTooLarge {
		t.Fatalf("err = %v, want too_large", err)
	}
}

func TestConfig(t *testing.T) {
	c := Config{}.withDefaults()
	if c.MaxSize != 64<<10 || c.MaxFuture != 24*time.Hour || c.Now == nil ||
		!c.MinTime.Equal(time.Date(1990, 1, 1, 0, 0, 0, 0, time.UTC)) {
		t.Errorf("defaults = %+v", c)
	}
	if err := (Config{}).Validate(); err != nil {
		t.Errorf("zero config: %v", err)
	}
	if err := (Config{MaxSize: -1, MaxFuture: -time.Hour}).Validate(); err == nil ||
		!strings.Contains(err.Error(), "MaxSize") || !strings.Contains(err.Error(), "MaxFuture") {
		t.Errorf("Validate = %v, want both fields named", err)
	}
	// MaxFuture and MinTime are honoured.
	d := NewDecoder(Config{MaxFuture: time.Hour, MinTime: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC),
		Now: func() time.Time { return testNow }})
	for _, ts := range []string{"2026-11-24T08:00:00.001Z", "2025-12-31T23:59:59Z"} {
		var e Event
		js := `{"type":"opened","id":"e","email":"a@b","timestamp":"` + ts + `"}`
		var de *Error
		if err := d.Decode([]byte(js), 0, &e); !errors.As(err, &de) || de.Reason != ReasonBadTimestamp {
			t.Errorf("%s: err = %v, want bad_timestamp", ts, err)
		}
	}
}

// TestDecodeDoesNotAlias decodes every example after every other with one
// decoder and checks that an earlier event never changes: its strings must
// not point into the record, which is overwritten after each Decode, nor
// into the decoder's reused buffers, nor into text arena bytes handed out
// again (the other events are decoded often enough to fill several chunks).
func TestDecodeDoesNotAlias(t *testing.T) {
	d := testDecoder()
	scribble := func(b []byte) {
		for i := range b {
			b[i] = '#'
		}
	}
	for _, a := range contractExamples {
		var first Event
		rec := []byte(a.JSON)
		if err := d.Decode(rec, 0, &first); err != nil {
			t.Fatal(err)
		}
		before := fmt.Sprintf("%+v", first)
		scribble(rec)
		for range 3 * textChunk / 100 / len(contractExamples) {
			for _, b := range contractExamples {
				var other Event
				rec := []byte(b.JSON)
				if err := d.Decode(rec, 0, &other); err != nil {
					t.Fatal(err)
				}
				scribble(rec)
			}
		}
		if after := fmt.Sprintf("%+v", first); after != before {
			t.Fatalf("%s changed after decoding other events:\nbefore %s\nafter  %s", a.Type, before, after)
		}
	}
}

// TestOwnCoversEveryString fills every text of the draft of an event
// (see draft), one item, trait and prop included, with a distinct string
// in the decoder's buffer, calls own, then overwrites the buffer: every
// string of the Event must hold the text of the draft field of the same
// name, so a string own forgot, or one without a draft field, shows.
func TestOwnCoversEveryString(t *testing.T) {
	d := testDecoder()
	want := map[string]string{}
	spanType := reflect.TypeFor[span]()
	var fill func(path string, v reflect.Value)
	fill = func(path string, v reflect.Value) {
		switch {
		case v.Type() == spanType:
			text := fmt.Sprintf("s%d", len(want))
			lo := len(d.buf)
			d.buf = append(d.buf, text...)
			v.Set(reflect.ValueOf(span{lo: int32(lo), hi: int32(len(d.buf)), buf: true}))
			want[path] = text
		case v.Kind() == reflect.Struct:
			for i := range v.NumField() {
				fill(path+"."+v.Type().Field(i).Name, v.Field(i))
			}
		}
	}
	d.lines, d.outTraits, d.outProps = make([]draftItem, 1), make([]pair, 1), make([]pair, 1)
	fill("", reflect.ValueOf(&d.ev).Elem())
	fill(".Items[0]", reflect.ValueOf(&d.lines[0]).Elem())
	fill(".Traits[0]", reflect.ValueOf(&d.outTraits[0]).Elem())
	fill(".Props[0]", reflect.ValueOf(&d.outProps[0]).Elem())
	if len(want) < 30 {
		t.Fatalf("found only %d texts", len(want))
	}
	var e Event
	d.own(&e)
	for i := range d.buf {
		d.buf[i] = '#'
	}
	got := map[string]string{}
	var collect func(path string, v reflect.Value)
	collect = func(path string, v reflect.Value) {
		switch v.Kind() {
		case reflect.String:
			got[path] = v.String()
		case reflect.Struct:
			for i := range v.NumField() {
				collect(path+"."+v.Type().Field(i).Name, v.Field(i))
			}
		case reflect.Slice:
			for i := range v.Len() {
				collect(fmt.Sprintf("%s[%d]", path, i), v.Index(i))
			}
		}
	}
	collect("", reflect.ValueOf(&e).Elem())
	for path, w := range want {
		if got[path] != w {
			t.Errorf("%s = %q, want %q", path, got[path], w)
		}
	}
	for path := range got {
		if _, ok := want[path]; !ok {
			t.Errorf("%s has no draft field", path)
		}
	}
}

func TestKeys(t *testing.T) {
	e := Event{ContactID: "42", Email: "ann@example.com", AnonymousID: "a-1"}
	if got := e.PrimaryKey(); got != "c:42" {
		t.Errorf("PrimaryKey = %q", got)
	}
	if got := e.Keys(nil); !slices.Equal(got, []state.Key{"c:42", "e:ann@example.com", "a:a-1"}) {
		t.Errorf("Keys = %q", got)
	}
	e = Event{AnonymousID: "a-1"}
	if got := e.PrimaryKey(); got != "a:a-1" {
		t.Errorf("PrimaryKey = %q", got)
	}
}

func TestHasControlOrBackslash(t *testing.T) {
	for c := range 256 {
		for _, n := range []int{1, 7, 8, 15, 16, 17, 40} {
			for pos := range n {
				data := []byte(strings.Repeat("é", n)[:n]) // non-ASCII bytes must not trip it
				data[pos] = byte(c)
				want := c < 0x20 || c == '\\'
				for _, b := range data {
					if b < 0x20 || b == '\\' {
						want = true
					}
				}
				if got := hasControlOrBackslash(data); got != want {
					t.Fatalf("byte %#x at %d of %d: got %v", c, pos, n, got)
				}
			}
		}
	}
}
