package event

import (
	"flag"
	"os"
	"strings"
	"testing"

	"github.com/kairos-engine/kairos/state"
)

// contractOut, when set, makes TestContractMarkdown write the README's
// "Event contract" section there, built from contractExamples so that the
// documented examples are the tested ones:
//
//	go test ./stream/event -run TestContractMarkdown -contract-out /tmp/contract.md
var contractOut = flag.String("contract-out", "", "write the event contract markdown to this file")

// contractExample is one documented event type: its properties in words
// and one compact example that the decoder accepts.
type contractExample struct {
	Type  state.EventType
	Props string // markdown
	JSON  string
}

// contractExamples holds one example per event type, in EventType order.
// testNow is after all of them.
var contractExamples = []contractExample{
	{state.EventPageView,
		"`url` (falls back to `context.url`), `category`",
		`{"id":"evt-1001","type":"page_view","anonymous_id":"a-7f3c","timestamp":"2026-11-24T05:59:58.120Z","properties":{"url":"https://shop.example/shoes","category":"shoes"},"context":{"ip":"203.0.113.7","user_agent":"Mozilla/5.0","referrer":"https://www.google.com/","timezone":"Europe/Paris","utm":{"source":"newsletter","medium":"email","campaign":"black-friday"}}}`},
	{state.EventProductView,
		"`sku` (required), `category`",
		`{"id":"evt-1002","type":"product_view","anonymous_id":"a-7f3c","timestamp":"2026-11-24T07:00:05+01:00","properties":{"sku":"SHOE-42","category":"shoes"}}`},
	{state.EventAddToCart,
		"`sku` (required), `category`, `quantity` (whole number ≥ 1, default 1), `price` (unit price, money)",
		`{"id":"evt-1003","type":"add_to_cart","anonymous_id":"a-7f3c","timestamp":"2026-11-24T06:01:10Z","properties":{"sku":"SHOE-42","category":"shoes","quantity":2,"price":59.90}}`},
	{state.EventRemoveFromCart,
		"`sku` (required), `category`, `quantity` (default 1)",
		`{"id":"evt-1004","type":"remove_from_cart","anonymous_id":"a-7f3c","timestamp":"2026-11-24T06:02:00Z","properties":{"sku":"SHOE-42"}}`},
	{state.EventSearch,
		"`query` (required)",
		`{"id":"evt-1005","type":"search","anonymous_id":"a-7f3c","timestamp":"2026-11-24T06:03:00Z","properties":{"query":"running shoes"}}`},
	{state.EventFormSubmit,
		"`form` (required), `content` (what was downloaded)",
		`{"id":"evt-1006","type":"form_submit","email":"Ann.Lee@Example.com","anonymous_id":"a-7f3c","timestamp":"2026-11-24T06:04:00Z","properties":{"form":"whitepaper-download","content":"state-of-retail-2026"}}`},
	{state.EventSignup,
		"`list` (required), `traits` (object of scalars; without it the other top-level scalar properties are the traits), `phone`",
		`{"id":"evt-1007","type":"signup","email":"ann.lee@example.com","timestamp":"2026-11-24T06:05:00Z","properties":{"list":"newsletter","traits":{"first_name":"Ann","country":"FR"}}}`},
	{state.EventIdentify,
		"`traits` (object of scalars; without it the top-level scalar properties are the traits), `phone` (or `traits.phone`). Needs two identifiers to link, or traits to set",
		`{"id":"evt-1008","type":"identify","contact_id":"42","email":"ann.lee@example.com","anonymous_id":"a-7f3c","timestamp":"2026-11-24T06:06:00Z","properties":{"traits":{"first_name":"Ann","job_title":"CTO","phone":"+33612345678"}}}`},
	{state.EventOrderPlaced,
		"`order_id` (required), `items` (required, 1..100 of {`sku` required, `category`, `quantity` default 1, `price` required, unit price}), `total` (required, money), `currency` (ISO 4217, default `EUR`)",
		`{"id":"ord-9001-placed","type":"order_placed","contact_id":"42","timestamp":"2026-11-24T06:10:00Z","properties":{"order_id":"9001","items":[{"sku":"SHOE-42","category":"shoes","quantity":2,"price":59.90},{"sku":"SOCK-1","category":"socks","price":4.5}],"total":124.30,"currency":"EUR"}}`},
	{state.EventOrderCancelled,
		"`order_id` (required)",
		`{"id":"ord-9001-cancelled","type":"order_cancelled","contact_id":"42","timestamp":"2026-11-24T06:11:00Z","properties":{"order_id":"9001"}}`},
	{state.EventOrderRefunded,
		"`order_id` (required), `amount` (money; absent means the whole order)",
		`{"id":"ord-9001-refund-1","type":"order_refunded","contact_id":"42","timestamp":"2026-11-24T06:12:00Z","properties":{"order_id":"9001","amount":4.50}}`},
	{state.EventOrderShipped,
		"`order_id` (required)",
		`{"id":"ord-9001-shipped","type":"order_shipped","contact_id":"42","timestamp":"2026-11-24T06:13:00Z","properties":{"order_id":"9001"}}`},
	{state.EventEmailSent,
		"`campaign`, `list`",
		`{"id":"msg-77-sent","type":"sent","email":"ann.lee@example.com","timestamp":"2026-11-24T06:20:00Z","properties":{"campaign":"black-friday","list":"newsletter"}}`},
	{state.EventEmailDelivered,
		"`campaign`",
		`{"id":"msg-77-delivered","type":"delivered","email":"ann.lee@example.com","timestamp":"2026-11-24T06:20:02Z","properties":{"campaign":"black-friday"}}`},
	{state.EventEmailOpened,
		"`campaign`",
		`{"id":"msg-77-opened","type":"opened","email":"ann.lee@example.com","timestamp":"2026-11-24T06:25:00Z","properties":{"campaign":"black-friday"}}`},
	{state.EventEmailClicked,
		"`campaign`, `url` (the link)",
		`{"id":"msg-77-clicked","type":"clicked","email":"ann.lee@example.com","timestamp":"2026-11-24T06:26:00Z","properties":{"campaign":"black-friday","url":"https://shop.example/sale"}}`},
	{state.EventEmailBounced,
		"`type` (or `bounce_type`, required: `hard` or `soft`), `campaign`",
		`{"id":"msg-78-bounced","type":"bounced","email":"old@example.com","timestamp":"2026-11-24T06:21:00Z","properties":{"type":"hard","campaign":"black-friday"}}`},
	{state.EventEmailUnsubscribed,
		"`list` (absent or `all`: every list), `campaign`",
		`{"id":"msg-77-unsub","type":"unsubscribed","email":"ann.lee@example.com","timestamp":"2026-11-24T06:30:00Z","properties":{"list":"newsletter","campaign":"black-friday"}}`},
	{state.EventEmailComplained,
		"`campaign`",
		`{"id":"msg-77-complaint","type":"complained","email":"ann.lee@example.com","timestamp":"2026-11-24T06:31:00Z","properties":{"campaign":"black-friday"}}`},
	{state.EventActionClick,
		"`decision_id` (required: the 32 hex digits next-best-action answered), `action_id` (required)",
		`{"id":"evt-1009","type":"action_click","anonymous_id":"a-7f3c","timestamp":"2026-11-24T06:32:00Z","properties":{"decision_id":"8f14e45fceea167a5a36dedd4bea2543","action_id":"welcome-offer"}}`},
	{state.EventActionDismiss,
		"`decision_id` (required), `action_id` (required)",
		`{"id":"evt-1010","type":"action_dismiss","anonymous_id":"a-7f3c","timestamp":"2026-11-24T06:33:00Z","properties":{"decision_id":"8f14e45fceea167a5a36dedd4bea2543","action_id":"newsletter-signup"}}`},
}

// example returns the contract example of t.
func example(t state.EventType) string {
	for _, c := range contractExamples {
		if c.Type == t {
			return c.JSON
		}
	}
	return "" // TestContractExamples reports the missing type
}

func TestContractExamples(t *testing.T) {
	seen := map[state.EventType]bool{}
	d := testDecoder()
	for _, c := range contractExamples {
		t.Run(c.Type.String(), func(t *testing.T) {
			if seen[c.Type] {
				t.Fatalf("two examples of %s", c.Type)
			}
			seen[c.Type] = true
			var e Event
			if err := d.Decode([]byte(c.JSON), c.Type.Stream(), &e); err != nil {
				t.Fatalf("contract example does not decode: %v", err)
			}
			if e.Type != c.Type {
				t.Fatalf("type = %s, want %s", e.Type, c.Type)
			}
		})
	}
	for typ := state.EventPageView; typ < state.NumEventTypes; typ++ {
		if !seen[typ] {
			t.Errorf("no contract example for %s", typ)
		}
	}
}

// TestContractMarkdown renders the contract section; it always runs so the
// renderer cannot rot, and writes the file only with -contract-out.
func TestContractMarkdown(t *testing.T) {
	md := contractMarkdown()
	for _, c := range contractExamples {
		if !strings.Contains(md, c.JSON) {
			t.Fatalf("markdown lacks the %s example", c.Type)
		}
	}
	if *contractOut != "" {
		if err := os.WriteFile(*contractOut, []byte(md), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

func contractMarkdown() string {
	var b strings.Builder
	b.WriteString(contractIntro)
	streams := []struct {
		s     state.Stream
		topic string
		about string
	}{
		{state.StreamClickstream, "kairos.clickstream", "what people do on the website or app"},
		{state.StreamOrders, "kairos.orders", "the order lifecycle, from the shop backend"},
		{state.StreamEmail, "kairos.email", "what happened to emails, from the email service provider"},
	}
	for _, st := range streams {
		b.WriteString("\n### `" + st.topic + "`: " + st.about + "\n\n")
		b.WriteString("| type | properties |\n| --- | --- |\n")
		for _, c := range contractExamples {
			if c.Type.Stream() == st.s {
				b.WriteString("| `" + c.Type.String() + "` | " + c.Props + " |\n")
			}
		}
		b.WriteString("\n```json\n")
		for _, c := range contractExamples {
			if c.Type.Stream() == st.s {
				b.WriteString(c.JSON + "\n")
			}
		}
		b.WriteString("```\n")
	}
	b.WriteString(contractOutro)
	return b.String()
}

const contractIntro = "## Event contract\n\n" +
	"Producers write one JSON object per record to the topic of its stream. " +
	"Kairos decodes and validates every record (`stream/event`); a record that " +
	"breaks a rule below goes, unchanged, to `kairos.deadletter` and the " +
	"partition carries on.\n\n" +
	"### Envelope\n\n" +
	"| field | rule |\n| --- | --- |\n" +
	"| `id` | required string, 1..256 bytes, unique per event: Kairos drops an id it has already folded for the contact (the last 128 events), so a producer retry is harmless |\n" +
	"| `type` | required, one of the types of the record's topic below |\n" +
	"| `contact_id`, `email`, `anonymous_id` | at least one; strings of at most 256 bytes without control characters. `email` has exactly one `@` between a non-empty local part and domain, no white space, and is normalised (trimmed, lower-cased). An event carrying several ids links them to one contact |\n" +
	"| `timestamp` | required, RFC 3339 with optional fraction and zone: `2026-11-24T06:00:00.123Z`, `2026-11-24T07:00:00+01:00`. Kairos keeps milliseconds (further digits are truncated) and uses event time for everything. Before 1990-01-01 or more than 24 h ahead of the consumer's clock is `bad_timestamp` |\n" +
	"| `properties` | object; its fields depend on the type (below) |\n" +
	"| `context` | optional object: `ip`, `user_agent`, `url`, `referrer`, `timezone` (an IANA name such as `Europe/Paris`, used for purchase days and send times), `utm` {`source`, `medium`, `campaign`, `term`, `content`} |\n\n" +
	"General rules:\n\n" +
	"- **Size**: a record is at most 64 KiB (`too_large` otherwise, not parsed).\n" +
	"- **null** is the same as absent; an empty string is absent too, which makes a required field `missing_field`.\n" +
	"- **Unknown fields** are ignored, so producers can add fields before Kairos reads them. A key repeated within any object is `invalid_json`: parsers disagree on which value wins.\n" +
	"- **Strings**: property values at most 2048 bytes, names at most 256; names of things (`sku`, `order_id`, `category`, `list`, `campaign`, `form`, `timezone`, `phone`) without control characters.\n" +
	"- **Money** (`price`, `total`, `amount`) is a JSON number in major units (`19.99`, `20`, `19.9`), never a string. Kairos reads the decimal text, not a float: two decimals are exact, a third rounds half up, further digits are ignored. Negative values, exponents (`1e3`) and amounts above 10^13 major units are `invalid_field`.\n" +
	"- **Quantities** are whole JSON numbers from 1 to 1,000,000.\n" +
	"- **Props**: every scalar top-level property (string, number, boolean) is also kept as text for trigger-rule conditions, the first 64 of them.\n" +
	"- **Traits** (signup, identify): at most 64, values at most 256 bytes; a null trait is ignored (events never unset traits).\n\n" +
	"### Keys\n\n" +
	"Key every record by the best id the producer knows, without prefix: " +
	"`contact_id`, else the normalised email (trimmed, lower-cased), else " +
	"`anonymous_id`. All events of one person then reach one partition; when " +
	"an event reveals a better id, Kairos re-keys it through an internal topic " +
	"itself.\n"

const contractOutro = "\n### Dead letters\n\n" +
	"A rejected record is copied byte for byte to `kairos.deadletter`, with its " +
	"original key, and these headers set by the engine:\n\n" +
	"| header | value |\n| --- | --- |\n" +
	"| `kairos.reason` | one of the stable codes below |\n" +
	"| `kairos.detail` | the error: reason, JSON path of the field and what is wrong, e.g. `missing_field: properties.order_id: required for order_placed` |\n" +
	"| `kairos.source.topic` | topic the record was read from |\n" +
	"| `kairos.source.partition` | its partition (decimal) |\n" +
	"| `kairos.source.offset` | its offset (decimal) |\n\n" +
	"| reason | meaning |\n| --- | --- |\n" +
	"| `invalid_json` | not one JSON object in UTF-8 (`NaN`, raw control characters in strings and trailing data are not JSON), or a repeated key |\n" +
	"| `too_large` | larger than 64 KiB |\n" +
	"| `unknown_type` | `type` is not a known event type |\n" +
	"| `wrong_topic` | `type` belongs to another topic (an `order_placed` on `kairos.clickstream`) |\n" +
	"| `missing_field` | a required field is absent, null or empty |\n" +
	"| `invalid_field` | a field has the wrong JSON type, is out of range, too long or malformed |\n" +
	"| `bad_timestamp` | `timestamp` is not RFC 3339 or is before 1990 or more than 24 h in the future |\n"
