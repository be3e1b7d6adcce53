package lead

import (
	"testing"

	"github.com/kairos-engine/kairos/state"
)

// benchContact is a known B2B contact with a typical history under the
// shipped plan.
func benchContact(b *testing.B, p *Plan) (*state.Contact, *state.Scores) {
	c := &state.Contact{Key: "e:ann@example.com", EmailAddr: "ann@example.com", Traits: traits("company_size", "51-200", "country", "DE", "first_name", "Ann", "industry", "Retail", "job_title", "Head of Purchasing")}
	s := &state.Scores{}
	for i, ev := range []struct {
		t state.EventType
		p props
	}{
		{state.EventPageView, props{"url": "https://shop.test/pricing"}},
		{state.EventPageView, props{"url": "https://shop.test/customers/acme"}},
		{state.EventProductView, props{"sku": "A"}},
		{state.EventAddToCart, props{"sku": "A"}},
		{state.EventSearch, props{"query": "desk"}},
		{state.EventEmailOpened, nil},
		{state.EventEmailClicked, nil},
		{state.EventFormSubmit, props{"form": "whitepaper-download"}},
	} {
		p.Apply(s, ev.t, t0+int64(i)*hour, ev.p, c)
	}
	return c, s
}

// BenchmarkApply measures the hot path: one event of a known contact.
func BenchmarkApply(b *testing.B) {
	p := shipped(b)
	cases := []struct {
		name string
		t    state.EventType
		p    props
		c    bool
	}{
		{"page_view/pricing", state.EventPageView, props{"url": "https://shop.test/en/pricing?plan=pro"}, true},
		{"page_view/other", state.EventPageView, props{"url": "https://shop.test/en/shoes/running", "category": "shoes"}, true},
		{"form_submit/demo", state.EventFormSubmit, props{"form": "request-demo"}, true},
		{"order_shipped/no_rule", state.EventOrderShipped, props{"order_id": "o1"}, true},
		{"page_view/anonymous", state.EventPageView, props{"url": "https://shop.test/en/pricing"}, false},
	}
	for _, bc := range cases {
		b.Run(bc.name, func(b *testing.B) {
			c, s := benchContact(b, p)
			if !bc.c {
				c = &state.Contact{Key: "a:7f3c"}
			}
			at := t0 + day
			b.ReportAllocs()
			for b.Loop() {
				at += 1000
				p.Apply(s, bc.t, at, bc.p, c)
			}
		})
	}
}

// BenchmarkScoreInto measures a read: decay, fit and the top five.
func BenchmarkScoreInto(b *testing.B) {
	p := shipped(b)
	c, s := benchContact(b, p)
	buf := make([]Contribution, 0, p.Top())
	b.ReportAllocs()
	for b.Loop() {
		p.ScoreInto(buf, s, c, t0+10*day)
	}
}

func BenchmarkParseDefaultPlan(b *testing.B) {
	b.ReportAllocs()
	for b.Loop() {
		if _, err := Default(); err != nil {
			b.Fatal(err)
		}
	}
}
