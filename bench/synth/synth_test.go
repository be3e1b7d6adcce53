package synth

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"
)

const tsLayout = "2006-01-02T15:04:05.000Z"

var topicTypes = map[string]map[string]bool{
	TopicClickstream: {"page_view": true, "product_view": true, "add_to_cart": true, "remove_from_cart": true,
		"search": true, "form_submit": true, "signup": true, "identify": true},
	TopicOrders: {"order_placed": true, "order_cancelled": true, "order_refunded": true, "order_shipped": true},
	TopicEmail: {"sent": true, "delivered": true, "opened": true, "clicked": true, "bounced": true,
		"unsubscribed": true, "complained": true},
}

type item struct {
	SKU      string      `json:"sku"`
	Category string      `json:"category"`
	Quantity int         `json:"quantity"`
	Price    json.Number `json:"price"`
}

type event struct {
	ID          string `json:"id"`
	Type        string `json:"type"`
	ContactID   string `json:"contact_id"`
	Email       string `json:"email"`
	AnonymousID string `json:"anonymous_id"`
	Timestamp   string `json:"timestamp"`
	Properties  struct {
		URL      string            `json:"url"`
		Category string            `json:"category"`
		SKU      string            `json:"sku"`
		Quantity *int              `json:"quantity"`
		Price    json.Number       `json:"price"`
		Query    string            `json:"query"`
		Form     string            `json:"form"`
		Content  string            `json:"content"`
		List     *string           `json:"list"`
		Traits   map[string]string `json:"traits"`
		Campaign string            `json:"campaign"`
		Type     string            `json:"type"`
		OrderID  string            `json:"order_id"`
		Items    []item            `json:"items"`
		Total    json.Number       `json:"total"`
		Currency string            `json:"currency"`
		Amount   json.Number       `json:"amount"`
	} `json:"properties"`
	Context *struct {
		IP        string `json:"ip"`
		UserAgent string `json:"user_agent"`
		URL       string `json:"url"`
		Referrer  string `json:"referrer"`
		Timezone  string `json:"timezone"`
		UTM       *struct {
			Source   string `json:"source"`
			Medium   string `json:"medium"`
			Campaign string `json:"campaign"`
		} `json:"utm"`
	} `json:"context"`

	topic string
	key   string
	time  time.Time
}

func decode(t *testing.T, r Record) event {
	t.Helper()
	if !json.Valid(r.Value) {
		t.Fatalf("invalid JSON on %s: %s", r.Topic, r.Value)
	}
	var e event
	if err := json.Unmarshal(r.Value, &e); err != nil {
		t.Fatalf("decode %s: %v", r.Value, err)
	}
	e.topic, e.key = r.Topic, string(r.Key)
	ts, err := time.Parse(tsLayout, e.Timestamp)
	if err != nil {
		t.Fatalf("timestamp of %s: %v", r.Value, err)
	}
	e.time = ts
	return e
}

var moneyRE = regexp.MustCompile(`^[0-9]+\.[0-9]{2}$`)

// money parses a price written with exactly two decimals.
func money(t *testing.T, n json.Number) int64 {
	t.Helper()
	s := n.String()
	if !moneyRE.MatchString(s) {
		t.Fatalf("money %q does not have two decimals", s)
	}
	v, err := strconv.ParseInt(strings.Replace(s, ".", "", 1), 10, 64)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

// sim is a 60-day run of 2,000 contacts (and a few hundred anonymous
// visitors), decoded once for several checks.
type sim struct {
	g      *Generator
	events []event
}

func runSim(t *testing.T, days int) *sim {
	t.Helper()
	g := New(Config{Contacts: 2000, Visitors: 300, Seed: 7})
	end := g.Now().Add(time.Duration(days) * 24 * time.Hour)
	s := &sim{g: g}
	for g.Now().Before(end) {
		s.events = append(s.events, decode(t, g.Next()))
	}
	return s
}

func TestSimulation(t *testing.T) {
	if testing.Short() {
		t.Skip("60 simulated days")
	}
	s := runSim(t, 60)
	t.Logf("%d events over 60 simulated days", len(s.events))

	t.Run("envelope", func(t *testing.T) {
		ids := make(map[string]bool, len(s.events))
		zones := map[string]bool{}
		for _, e := range s.events {
			if e.ID == "" || ids[e.ID] {
				t.Fatalf("id %q empty or repeated", e.ID)
			}
			ids[e.ID] = true
			if !topicTypes[e.topic][e.Type] {
				t.Fatalf("type %q on topic %s", e.Type, e.topic)
			}
			if e.ContactID == "" && e.Email == "" && e.AnonymousID == "" {
				t.Fatalf("event %s has no id", e.ID)
			}
			if e.Email != strings.ToLower(e.Email) || (e.Email != "" && !strings.Contains(e.Email, "@")) {
				t.Fatalf("email %q", e.Email)
			}
			if e.topic == TopicEmail && (e.ContactID == "" || e.Email == "") {
				t.Fatalf("email event %s without contact_id and email", e.ID)
			}
			if e.Context != nil {
				if tz := e.Context.Timezone; !zones[tz] {
					if _, err := time.LoadLocation(tz); err != nil || tz == "" {
						t.Fatalf("timezone %q: %v", tz, err)
					}
					zones[tz] = true
				}
				if u := e.Context.UTM; u != nil && (u.Source == "" || u.Medium == "" || u.Campaign == "") {
					t.Fatalf("incomplete utm in %s", e.ID)
				}
			}
		}
	})

	t.Run("key", func(t *testing.T) {
		for _, e := range s.events {
			want := e.ContactID
			if want == "" {
				want = e.Email
			}
			if want == "" {
				want = e.AnonymousID
			}
			if e.key != want {
				t.Fatalf("event %s keyed %q, want %q", e.ID, e.key, want)
			}
		}
	})

	t.Run("properties", func(t *testing.T) {
		for _, e := range s.events {
			p := &e.Properties
			var missing bool
			switch e.Type {
			case "page_view":
				missing = p.URL == ""
			case "product_view":
				missing = p.SKU == "" || p.Category == ""
			case "add_to_cart":
				missing = p.SKU == "" || p.Category == "" || p.Quantity == nil || *p.Quantity < 1
				money(t, p.Price)
			case "remove_from_cart":
				missing = p.SKU == "" || p.Quantity == nil || *p.Quantity < 1
			case "search":
				missing = p.Query == ""
			case "form_submit":
				missing = p.Form == ""
			case "signup":
				missing = p.List == nil || e.Email == "" || e.AnonymousID == ""
			case "identify":
				missing = e.ContactID == "" || e.Email == "" || e.AnonymousID == ""
				for _, tr := range []string{"first_name", "last_name", "country", "language"} {
					missing = missing || p.Traits[tr] == ""
				}
				if p.Traits["job_title"] != "" && (p.Traits["industry"] == "" || p.Traits["company_size"] == "") {
					t.Fatalf("B2B traits incomplete in %s", e.ID)
				}
			case "order_placed", "order_cancelled", "order_refunded", "order_shipped":
				missing = p.OrderID == "" || e.ContactID == ""
			case "sent":
				missing = p.Campaign == "" || p.List == nil
			case "clicked":
				missing = p.URL == ""
			case "bounced":
				missing = p.Type != "hard" && p.Type != "soft"
			}
			if missing {
				t.Fatalf("event %s (%s) lacks a required property", e.ID, e.Type)
			}
		}
	})

	t.Run("orders", func(t *testing.T) {
		totals := map[string]int64{}
		for _, e := range s.events {
			p := &e.Properties
			switch e.Type {
			case "order_placed":
				if p.Currency != "EUR" || len(p.Items) == 0 {
					t.Fatalf("order %s: currency %q, %d items", p.OrderID, p.Currency, len(p.Items))
				}
				var sum int64
				for _, it := range p.Items {
					if it.SKU == "" || it.Category == "" || it.Quantity < 1 {
						t.Fatalf("order %s: bad item %+v", p.OrderID, it)
					}
					sum += int64(it.Quantity) * money(t, it.Price)
				}
				if total := money(t, p.Total); total != sum {
					t.Fatalf("order %s: total %d cents, items sum to %d", p.OrderID, total, sum)
				}
				if _, dup := totals[p.OrderID]; dup {
					t.Fatalf("order %s placed twice", p.OrderID)
				}
				totals[p.OrderID] = sum
			case "order_cancelled", "order_shipped", "order_refunded":
				total, ok := totals[p.OrderID]
				if !ok {
					t.Fatalf("%s of unknown order %s", e.Type, p.OrderID)
				}
				if p.Amount != "" && money(t, p.Amount) > total {
					t.Fatalf("refund %s of order %s exceeds its total %d", p.Amount, p.OrderID, total)
				}
			}
		}
	})

	t.Run("mix", func(t *testing.T) {
		counts := map[string]int{}
		for _, e := range s.events {
			counts[e.Type]++
		}
		for _, types := range topicTypes {
			for typ := range types {
				if counts[typ] == 0 {
					t.Errorf("no %s events", typ)
				}
			}
		}
		// The finer points of the model: each must occur at least once.
		var hard, soft, unsubList, unsubAll, demo, content, refundPart, refundWhole, refundNoAmount int
		totals := map[string]int64{}
		for _, e := range s.events {
			p := &e.Properties
			switch {
			case e.Type == "bounced" && p.Type == "hard":
				hard++
			case e.Type == "bounced":
				soft++
			case e.Type == "unsubscribed" && p.List != nil:
				unsubList++
			case e.Type == "unsubscribed":
				unsubAll++
			case e.Type == "form_submit" && p.Form == "request-demo":
				demo++
			case e.Type == "form_submit" && p.Content != "":
				content++
			case e.Type == "order_placed":
				totals[p.OrderID] = money(t, p.Total)
			case e.Type == "order_refunded" && p.Amount == "":
				refundNoAmount++
			case e.Type == "order_refunded" && money(t, p.Amount) == totals[p.OrderID]:
				refundWhole++
			case e.Type == "order_refunded":
				refundPart++
			}
		}
		for name, n := range map[string]int{"hard bounces": hard, "soft bounces": soft,
			"list unsubscribes": unsubList, "global unsubscribes": unsubAll, "demo requests": demo,
			"content downloads": content, "partial refunds": refundPart, "whole refunds": refundWhole,
			"refunds without amount": refundNoAmount} {
			if n == 0 {
				t.Errorf("no %s", name)
			}
		}
		if t.Failed() || testing.Verbose() {
			t.Logf("counts: %v", counts)
		}
		if counts["page_view"] < counts["order_placed"]*10 {
			t.Errorf("%d page views for %d orders: shoppers browse more than that", counts["page_view"], counts["order_placed"])
		}
	})

	t.Run("buyers", func(t *testing.T) {
		orders := map[string]int{}
		for _, e := range s.events {
			if e.Type == "order_placed" {
				orders[e.ContactID]++
			}
		}
		var repeat3, repeatish int
		for i := range s.g.Contacts() {
			p, _ := s.g.Persona(i)
			n := orders[p.ContactID]
			if n != p.Orders {
				t.Fatalf("%s placed %d orders in the stream, persona says %d", p.ContactID, n, p.Orders)
			}
			switch {
			case p.Buyer == NeverBuys && n > 0:
				t.Fatalf("%s never buys but placed %d orders", p.ContactID, n)
			case p.Buyer == OneOff && n > 1:
				t.Fatalf("%s buys once but placed %d orders", p.ContactID, n)
			case n >= 3:
				repeat3++
				if p.Buyer == Repeat || p.Buyer == Lapsing {
					repeatish++
				}
			}
		}
		t.Logf("%d contacts placed 3 or more orders", repeat3)
		if repeat3 < 30 || repeatish != repeat3 {
			t.Errorf("%d contacts with >= 3 orders (%d repeat or lapsing): want >= 30, all repeat or lapsing", repeat3, repeatish)
		}
	})

	t.Run("identity", func(t *testing.T) {
		linkedTo := map[string]string{} // anonymous id -> contact id
		var links int
		for _, e := range s.events {
			if e.Type != "identify" {
				continue
			}
			links++
			if c, ok := linkedTo[e.AnonymousID]; ok && c != e.ContactID {
				t.Fatalf("anonymous id %s linked to %s and %s", e.AnonymousID, c, e.ContactID)
			}
			linkedTo[e.AnonymousID] = e.ContactID
		}
		// Browsing before and after the link.
		var before, after int
		for _, e := range s.events {
			if e.topic != TopicClickstream || e.Type == "identify" || linkedTo[e.AnonymousID] == "" {
				continue
			}
			if e.ContactID == "" {
				before++
			} else {
				after++
			}
		}
		t.Logf("%d identifies over %d anonymous ids; %d anonymous events before a link, %d after", links, len(linkedTo), before, after)
		if len(linkedTo) < 500 || before == 0 || after == 0 {
			t.Errorf("%d anonymous ids linked: want >= 500, with anonymous browsing before and identified browsing after", len(linkedTo))
		}
	})

	t.Run("rhythm", func(t *testing.T) {
		byID := map[string]Persona{}
		for i := range s.g.Contacts() {
			p, _ := s.g.Persona(i)
			byID[p.ContactID] = p
		}
		locs := map[string]*time.Location{}
		loc := func(name string) *time.Location {
			if l, ok := locs[name]; ok {
				return l
			}
			l, err := time.LoadLocation(name)
			if err != nil {
				t.Fatal(err)
			}
			locs[name] = l
			return l
		}
		var opens, near int
		for _, e := range s.events {
			if e.Type != "opened" {
				continue
			}
			p := byID[e.ContactID]
			h := e.time.In(loc(p.TimeZone)).Hour()
			d := (h - p.PreferredHour + 24) % 24
			if d <= 1 || d == 23 {
				near++
			}
			opens++
		}
		share := float64(near) / float64(opens)
		t.Logf("%d of %d opens (%.0f%%) within an hour of the preferred hour", near, opens, 100*share)
		if share < 0.5 {
			t.Errorf("%.2f of opens near the preferred hour: want >= 0.5 (3 of 24 hours)", share)
		}

		var views, night int
		for _, e := range s.events {
			if e.Type != "page_view" || e.Context == nil {
				continue
			}
			views++
			if h := e.time.In(loc(e.Context.Timezone)).Hour(); h >= 1 && h < 6 {
				night++
			}
		}
		if share := float64(night) / float64(views); share > 0.08 {
			t.Errorf("%.2f of page views between 01:00 and 06:00 local time: want a daily rhythm (< 0.08)", share)
		}
	})

	t.Run("order", func(t *testing.T) {
		var maxTime time.Time
		var late int
		for _, e := range s.events {
			if e.time.Before(maxTime) {
				late++
				if maxTime.Sub(e.time) > 3*time.Minute {
					t.Fatalf("event %s is %v late", e.ID, maxTime.Sub(e.time))
				}
			} else {
				maxTime = e.time
			}
		}
		if late == 0 || late > len(s.events)/100 {
			t.Errorf("%d of %d events out of order: want a few", late, len(s.events))
		}
	})
}

func TestDeterministic(t *testing.T) {
	gen := func(cfg Config, n int) [][]byte {
		g := New(cfg)
		out := make([][]byte, n)
		for i := range out {
			r := g.Next()
			out[i] = append([]byte(r.Topic+"|"+string(r.Key)+"|"), r.Value...)
		}
		return out
	}
	for _, cfg := range []Config{
		{Contacts: 300, Seed: 1},
		{Contacts: 300, Seed: 42, BadRate: 0.02},
	} {
		t.Run(fmt.Sprint(cfg.Seed), func(t *testing.T) {
			a, b := gen(cfg, 30_000), gen(cfg, 30_000)
			for i := range a {
				if !bytes.Equal(a[i], b[i]) {
					t.Fatalf("event %d differs between runs:\n%s\n%s", i, a[i], b[i])
				}
			}
		})
	}
	t.Run("seeds differ", func(t *testing.T) {
		a := New(Config{Contacts: 300, Seed: 1}).Batch(1000)
		b := New(Config{Contacts: 300, Seed: 11}).Batch(1000)
		ids := map[string]bool{}
		for _, r := range append(a, b...) {
			var e struct{ ID string }
			if err := json.Unmarshal(r.Value, &e); err != nil {
				t.Fatal(err)
			}
			if ids[e.ID] {
				t.Fatalf("id %s in both runs", e.ID)
			}
			ids[e.ID] = true
		}
	})
}

func TestBadRecords(t *testing.T) {
	const n = 40_000
	g := New(Config{Contacts: 500, BadRate: 0.05})
	var good []Record
	reasons := map[string]int{}
	for range n {
		r := g.Next()
		if !r.Bad {
			good = append(good, r)
			continue
		}
		reasons[r.Reason]++
		var e map[string]any
		err := json.Unmarshal(r.Value, &e)
		switch r.Reason {
		case ReasonInvalidJSON:
			if json.Valid(r.Value) {
				t.Fatalf("invalid_json record is valid: %s", r.Value)
			}
			continue
		case ReasonUnknownType:
			typ, _ := e["type"].(string)
			if err != nil || topicTypes[r.Topic][typ] {
				t.Fatalf("unknown_type record %s: %v", r.Value, err)
			}
		case ReasonBadTimestamp:
			ts, _ := e["timestamp"].(string)
			if _, perr := time.Parse(time.RFC3339, ts); err != nil || perr == nil {
				t.Fatalf("bad_timestamp record %s: %v", r.Value, err)
			}
		case ReasonMissingField:
			props, _ := e["properties"].(map[string]any)
			typ, _ := e["type"].(string)
			if err != nil || r.Topic != TopicOrders || !topicTypes[TopicOrders][typ] || props == nil || props["order_id"] != nil {
				t.Fatalf("missing_field record on %s: %s (%v)", r.Topic, r.Value, err)
			}
		default:
			t.Fatalf("reason %q", r.Reason)
		}
		if id, _ := e["id"].(string); !strings.HasPrefix(id, "s1-b") {
			t.Fatalf("bad record id %q", id)
		}
		if len(r.Key) == 0 {
			t.Fatalf("bad record without key: %s", r.Value)
		}
	}
	bad := n - len(good)
	t.Logf("%d bad records: %v", bad, reasons)
	if bad < n/40 || bad > n/10 {
		t.Errorf("%d bad records of %d at rate 0.05", bad, n)
	}
	for _, reason := range []string{ReasonInvalidJSON, ReasonUnknownType, ReasonMissingField, ReasonBadTimestamp} {
		if reasons[reason] < bad/8 {
			t.Errorf("%d %s records of %d", reasons[reason], reason, bad)
		}
	}
	// The good records are exactly those of a run without bad ones.
	clean := New(Config{Contacts: 500})
	for i, r := range good {
		c := clean.Next()
		if !bytes.Equal(r.Value, c.Value) || !bytes.Equal(r.Key, c.Key) || r.Topic != c.Topic {
			t.Fatalf("good record %d differs from the clean run:\n%s\n%s", i, r.Value, c.Value)
		}
	}
}

func TestRecordOwnership(t *testing.T) {
	g := New(Config{Contacts: 100})
	first := g.Next()
	want := bytes.Clone(first.Value)
	g.Batch(100)
	if !bytes.Equal(first.Value, want) {
		t.Fatal("a record's value changed after later calls")
	}
	if cap(first.Key) != len(first.Key) {
		t.Fatal("appending to Key would overwrite Value")
	}
}

func TestAppendTime(t *testing.T) {
	g := New(Config{Contacts: 1})
	r := rand.New(rand.NewPCG(1, 2))
	check := func(ms int64) {
		t.Helper()
		got := string(g.appendTime(nil, ms))
		if want := time.UnixMilli(ms).UTC().Format(tsLayout); got != want {
			t.Fatalf("appendTime(%d) = %s, want %s", ms, got, want)
		}
	}
	for _, ms := range []int64{0, 1, 951782400000, 4107542399999, 1767225600000, -1, -86400001} {
		check(ms)
	}
	for range 100_000 {
		check(r.Int64N(4102444800000)) // up to 2100
	}
}

func TestAppendCents(t *testing.T) {
	for _, tc := range []struct {
		cents int64
		want  string
	}{{0, "0.00"}, {5, "0.05"}, {99, "0.99"}, {100, "1.00"}, {1999, "19.99"}, {123456, "1234.56"}} {
		if got := string(appendCents(nil, tc.cents)); got != tc.want {
			t.Errorf("appendCents(%d) = %s, want %s", tc.cents, got, tc.want)
		}
	}
}

func TestWriteJSONL(t *testing.T) {
	recs := New(Config{Contacts: 100}).Batch(500)
	var buf bytes.Buffer
	if err := WriteJSONL(&buf, recs); err != nil {
		t.Fatal(err)
	}
	lines := bytes.Split(bytes.TrimSuffix(buf.Bytes(), []byte("\n")), []byte("\n"))
	if len(lines) != len(recs) {
		t.Fatalf("%d lines for %d records", len(lines), len(recs))
	}
	for i := range lines {
		if !bytes.Equal(lines[i], recs[i].Value) {
			t.Fatalf("line %d: %s, want %s", i, lines[i], recs[i].Value)
		}
	}
	if err := WriteJSONL(failWriter{}, recs); err == nil {
		t.Fatal("no error from a failing writer")
	}
}

type failWriter struct{}

func (failWriter) Write([]byte) (int, error) { return 0, errors.New("disk full") }

func TestMixed(t *testing.T) {
	for _, n := range []int{5_000, 100_000} {
		t.Run(strconv.Itoa(n), func(t *testing.T) {
			recs := Mixed(n, 3)
			if len(recs) != n {
				t.Fatalf("%d records, want %d", len(recs), n)
			}
			topics := map[string]int{}
			for _, r := range recs {
				if len(r.Value) == 0 || r.Bad {
					t.Fatalf("empty or bad record %+v", r)
				}
				topics[r.Topic]++
			}
			t.Logf("topics: %v", topics)
			for topic, share := range map[string]float64{TopicClickstream: 0.5, TopicEmail: 0.05, TopicOrders: 0.003} {
				if got := float64(topics[topic]) / float64(n); got < share {
					t.Errorf("%s is %.3f of the mix, want >= %.3f", topic, got, share)
				}
			}
		})
	}
}

func TestConfig(t *testing.T) {
	for _, tc := range []struct {
		name string
		cfg  Config
		ok   bool
	}{
		{"zero", Config{}, true},
		{"full", Config{Contacts: 5, Visitors: -1, Seed: 9, KnownShare: 1, LateRate: -1, BadRate: 0.5}, true},
		{"negative contacts", Config{Contacts: -1}, false},
		{"bad rate", Config{BadRate: 1.5}, false},
		{"negative bad rate", Config{BadRate: -0.1}, false},
		{"known share", Config{KnownShare: 2}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.cfg.Validate()
			if (err == nil) != tc.ok || (err != nil && !errors.Is(err, ErrInvalidConfig)) {
				t.Fatalf("Validate() = %v, want ok %v", err, tc.ok)
			}
			// New clamps instead of failing, and still generates.
			New(tc.cfg).Batch(10)
		})
	}
	g := New(Config{})
	if g.Contacts() != DefaultContacts || !g.Now().Equal(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)) {
		t.Fatalf("defaults: %d contacts, start %v", g.Contacts(), g.Now())
	}
	if _, ok := g.Persona(DefaultContacts); ok {
		t.Fatal("Persona out of range reported ok")
	}
}

func BenchmarkNext(b *testing.B) {
	g := New(Config{})
	var bytes int64
	for range 10_000 {
		bytes += int64(len(g.Next().Value))
	}
	b.SetBytes(bytes / 10_000)
	b.ReportAllocs()
	n := 0
	for b.Loop() {
		g.Next()
		n++
	}
	b.ReportMetric(float64(n)/b.Elapsed().Seconds(), "events/s")
}
