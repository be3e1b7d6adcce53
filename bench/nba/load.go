package main

import (
	"fmt"
	"math/rand/v2"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/kairos-engine/kairos/models/nba"
	"github.com/kairos-engine/kairos/models/sendtime"
	"github.com/kairos-engine/kairos/state"
)

// runLoad offers decisions at a fixed rate (open loop: a request's latency
// counts from when it was due, so a stall shows up as queueing, not as
// fewer requests) to workers that do what the API handler will do per
// request, minus HTTP: fill a Context from a contact record and scores,
// decode the contact's History, decide among the catalogue's actions,
// render the top three as JSON into a reused buffer, and answer a
// send-time question for every tenth request. It prints one Markdown
// table row: latencies from when a worker was handed the request (the
// handler's own time plus queueing behind other requests) and from when
// it was due (adding the dispatcher's lateness, which on a busy machine
// is the sleep granularity), and CPU time of the whole process per
// request.
func runLoad(rate int, d time.Duration, actions, workers int) error {
	if workers <= 0 {
		workers = runtime.GOMAXPROCS(0)
	}
	if rate <= 0 || d <= 0 {
		return fmt.Errorf("rate and duration must be positive")
	}
	policy, contacts, hists, err := loadFixture(actions, 10000)
	if err != nil {
		return err
	}
	fit := sendtime.Uniform()
	total := int(float64(rate) * d.Seconds())
	type job struct{ due, sent int64 } // offsets from start
	due := make(chan job, 4096)
	lat := make([][]time.Duration, workers)  // from when each request was due
	serv := make([][]time.Duration, workers) // from when it was handed to a worker
	var wg sync.WaitGroup
	start := time.Now().Add(10 * time.Millisecond)
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			x := &nba.Context{}
			var h nba.History
			out := make([]nba.Choice, 3)
			hours := make([]sendtime.Hour, 32)
			buf := make([]byte, 0, 1024)
			mine := make([]time.Duration, 0, total/workers+1024)
			mineServ := make([]time.Duration, 0, total/workers+1024)
			i := w
			for j := range due {
				c := contacts[i%len(contacts)]
				i += workers
				fillContext(x, c)
				_ = h.UnmarshalBinary(hists[i%len(hists)])
				dec := policy.Decide(x, &h, nba.NewDecisionID(), out)
				buf = renderDecision(buf[:0], &dec)
				if i%10 == 0 {
					if _, err := sendtime.Predict(sendtime.Input{Hist: &c.Engagement.HourOfWeek, Opens: c.Engagement.Opened, Delivered: c.Engagement.Delivered}, fit, x.Now, 24*time.Hour, sendtime.Options{Explore: 0.05, Seed: uint64(i)}, hours); err != nil {
						panic(err) // a fixture bug, not input
					}
				}
				now := time.Since(start)
				mine = append(mine, now-time.Duration(j.due))
				mineServ = append(mineServ, now-time.Duration(j.sent))
			}
			lat[w], serv[w] = mine, mineServ
		}()
	}
	var ru0 syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru0)
	interval := time.Second / time.Duration(rate)
	for sent := 0; sent < total; {
		now := time.Since(start)
		for sent < total && time.Duration(sent)*interval <= now {
			due <- job{due: int64(time.Duration(sent) * interval), sent: int64(time.Since(start))}
			sent++
		}
		time.Sleep(200 * time.Microsecond)
	}
	close(due)
	wg.Wait()
	elapsed := time.Since(start)
	var ru1 syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru1)
	cpu := time.Duration(ru1.Utime.Nano()+ru1.Stime.Nano()-ru0.Utime.Nano()-ru0.Stime.Nano()) * time.Nanosecond
	flat := func(ls [][]time.Duration) []time.Duration {
		var all []time.Duration
		for _, l := range ls {
			all = append(all, l...)
		}
		slices.Sort(all)
		return all
	}
	all, sv := flat(lat), flat(serv)
	q := func(all []time.Duration, p float64) string {
		return all[min(len(all)-1, int(p*float64(len(all))))].Round(time.Microsecond).String()
	}
	fmt.Printf("| %d | %d/s | %.0f/s | %s / %s | %s / %s | %s / %s | %.1f µs |\n",
		actions, rate, float64(len(all))/elapsed.Seconds(),
		q(sv, 0.5), q(all, 0.5), q(sv, 0.99), q(all, 0.99), q(sv, 0.999), q(all, 0.999),
		float64(cpu.Microseconds())/float64(len(all)))
	return nil
}

// loadFixture builds a catalogue of n actions like the shipped one (the
// default's actions, then variants of its promotions), statistics, and
// contacts of every stage with carts, affinities and histories.
func loadFixture(n, contacts int) (*nba.Policy, []*state.Contact, [][]byte, error) {
	def := string(nba.DefaultCatalogueYAML())
	var b strings.Builder
	b.WriteString(def)
	cat, err := nba.ParseCatalogue("load.yaml", []byte(def))
	if err != nil {
		return nil, nil, nil, err
	}
	cats := []string{"shoes", "apparel", "outdoor", "home", "kitchen", "beauty", "electronics", "books"}
	for i := len(cat.Actions()); i < n; i++ {
		c := cats[i%len(cats)]
		fmt.Fprintf(&b, "\n  - id: extra-%d\n    placements: {homepage: 1, product_page: 1.2, email: 1}\n    eligible: affinity(%q) > %g or (page_category == %q and sessions >= %d)\n    value: %d\n    cap: {max: 3, per: 7d}\n",
			i, c, 0.2*float64(i%5), c, i%4, 2+i%13)
	}
	cat, err = nba.ParseCatalogue("load.yaml", []byte(b.String()))
	if err != nil {
		return nil, nil, nil, err
	}
	if len(cat.Actions()) < n {
		return nil, nil, nil, fmt.Errorf("catalogue has %d actions, want %d", len(cat.Actions()), n)
	}
	r := rand.New(rand.NewPCG(1, 2))
	stats := nba.NewStats()
	for _, a := range cat.Actions() {
		for _, g := range []string{"homepage/visitor", "homepage/lead", "homepage/customer", "homepage/mql"} {
			imp := uint64(1000 + r.IntN(9000))
			stats.Add(nba.Key{Action: a.ID, Group: g}, nba.Counts{Impressions: imp, Conversions: imp * uint64(1+r.IntN(8)) / 100})
		}
	}
	policy := nba.NewPolicy(cat, stats)
	now := time.Now().UnixMilli()
	out := make([]*state.Contact, contacts)
	hists := make([][]byte, 0, 64)
	for i := range out {
		c := &state.Contact{ContactID: strconv.Itoa(i), FirstSeen: now - int64(r.IntN(200))*86400_000, LastSeen: now}
		if i%4 == 0 {
			c.ContactID = ""
			c.Key = state.MakeKey(state.IDAnonymous, "anon-"+strconv.Itoa(i))
		} else {
			c.Key = state.MakeKey(state.IDContact, c.ContactID)
			c.EmailAddr = "c" + c.ContactID + "@example.com"
			c.Consent.Channels[state.ChannelEmail].Status = state.ConsentOptedIn
		}
		c.Sessions.Count = uint32(1 + r.IntN(30))
		for k := range 1 + r.IntN(5) {
			c.Categories = append(c.Categories, state.Affinity{Name: cats[(i+k)%len(cats)], Score: 3 * r.Float64()})
		}
		if i%3 == 0 {
			c.Cart.Items = []state.CartItem{{SKU: "SHO-1", Category: "shoes", Quantity: 1, Price: 5990}}
			c.Cart.UpdatedAt = now - int64(r.IntN(240))*60000
		}
		if i%2 == 0 {
			c.Orders.Count = int32(r.IntN(6))
			c.Orders.Revenue = int64(c.Orders.Count) * 4500
			c.Orders.Last = now - int64(r.IntN(300))*86400_000
		}
		for k := range 32 {
			c.Recent = append(c.Recent, state.RecentEvent{Type: state.EventType(1 + (i+k)%12), At: now - int64(32-k)*600_000, Ref: "x"})
		}
		c.Engagement.Opened, c.Engagement.Delivered = uint32(r.IntN(20)), 20
		for range c.Engagement.Opened {
			c.Engagement.HourOfWeek[r.IntN(sendtime.Bins)]++
		}
		out[i] = c
	}
	for k := range cap(hists) {
		var h nba.History
		for j, a := range cat.Actions() {
			if (j+k)%5 == 0 {
				h.RecordImpression(a, nba.DecisionID{byte(k)}, now-int64(j)*3600_000)
			}
		}
		enc, _ := h.AppendBinary(nil)
		hists = append(hists, enc)
	}
	return policy, out, hists, nil
}

var stages = []string{"visitor", "lead", "mql", "sql", "customer", "lapsed"}

// fillContext is what the API handler does per request: the record's raw
// state, scores (here made up from the record) and the request.
func fillContext(x *nba.Context, c *state.Contact) {
	*x = nba.Context{}
	x.SetContact(c)
	x.Placement = "homepage"
	x.PageCategory = "shoes"
	x.PageURL = "https://shop.example/c/shoes"
	x.Now = time.Now()
	switch {
	case !x.Known:
		x.Stage = "visitor"
	case c.Orders.Count > 0:
		x.Stage = "customer"
	default:
		x.Stage = stages[1+len(c.ContactID)%3]
	}
	x.Segment = "Loyal"
	x.LeadScore = float64(c.Sessions.Count) * 3
	x.PAlive = 0.7
	x.CLV = float64(c.Orders.Revenue) / 50
}

// renderDecision writes the response body the API will send.
func renderDecision(b []byte, d *nba.Decision) []byte {
	b = append(b, `{"decision_id":"`...)
	b, _ = d.ID.AppendText(b)
	b = append(b, `","actions":[`...)
	for i := range d.Choices {
		c := &d.Choices[i]
		if i > 0 {
			b = append(b, ',')
		}
		b = append(b, `{"id":"`...)
		b = append(b, c.Action.ID...)
		b = append(b, `","score":`...)
		b = strconv.AppendFloat(b, c.Score, 'g', 6, 64)
		b = append(b, `,"propensity":`...)
		b = strconv.AppendFloat(b, c.Propensity, 'g', 6, 64)
		b = append(b, `,"reason":"`...)
		b = append(b, d.Policy...)
		b = append(b, `"}`...)
	}
	return append(b, "]}"...)
}
