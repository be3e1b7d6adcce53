package synth

import (
	"math"
	"math/bits"
	"math/rand/v2"
	"strconv"
	"time"
	_ "time/tzdata" // the audience's zones must resolve the same on every host
)

// The input topics.
const (
	TopicClickstream = "kairos.clickstream"
	TopicOrders      = "kairos.orders"
	TopicEmail       = "kairos.email"
)

// Reasons of malformed records (Record.Reason).
const (
	ReasonInvalidJSON  = "invalid_json"  // the value is not JSON
	ReasonUnknownType  = "unknown_type"  // type names no event of the contract
	ReasonMissingField = "missing_field" // an order event without order_id
	ReasonBadTimestamp = "bad_timestamp" // timestamp is not RFC 3339
)

// Record is one event ready to produce. Key and Value are freshly allocated
// for each record and belong to the caller; they share one backing array,
// so neither may be appended to in place.
type Record struct {
	Topic string // TopicClickstream, TopicOrders or TopicEmail
	Key   []byte // contact_id if present, else email, else anonymous_id
	Value []byte // one JSON event

	// Bad marks a deliberately malformed record (Config.BadRate) and Reason
	// says what is wrong with it, one of the Reason* constants.
	Bad    bool
	Reason string
}

// Time units in Unix milliseconds.
const (
	second = int64(1000)
	minute = 60 * second
	hour   = 60 * minute
	day    = 24 * hour
	never  = math.MaxInt64
)

// Generator simulates the audience. It is not safe for concurrent use; run
// one per goroutine (with different seeds) to generate in parallel.
type Generator struct {
	cfg Config
	rnd rng // behaviour
	bad rng // bad-record decisions only, so good records do not depend on BadRate

	now      int64  // simulated clock, Unix ms
	tasks    []slot // the schedule: this hour's tasks, a heap
	ring     [][]slot
	horizon  int64        // tasks before it are in tasks, later ones in ring
	late     []lateRecord // held-back records, by release time
	pending  Record       // the good record a bad one was derived from
	hasPend  bool
	discard  bool // skipping: finish renders nothing
	actors   []actor
	contacts int32 // actors[:contacts] are contacts, the rest visitors

	cat       *catalog
	campaigns []campaign
	zones     [len(zoneNames)]zoneCache
	firstSlug [len(countries)][8]string // names as written in email addresses
	lastSlug  [len(countries)][8]string

	// Cumulative distributions of the weight tables in catalog.go.
	zoneCum   [len(zoneShares)]float64
	agentCum  [len(userAgentShares)]float64
	sourceCum [len(sourceShares)]float64
	hourCum   [len(hourWeights)]float64

	seq      uint64 // event counter
	badSeq   uint64
	orderSeq uint64
	devSeq   uint64
	devMix   uint64 // per-seed key of anonymous ids

	// Rendering: events are written into out[:n]. A fixed array rather
	// than a growing slice: writing bytes into it costs no GC write
	// barrier, and no event comes near its size.
	out            [4096]byte
	n              int
	keyOff, keyEnd int
	dayNum         int64 // day whose date is in dayText
	dayText        [11]byte
	evPrefix       []byte // "s<seed>-"
	contactPrefix  string // "c<seed>-"
	anonPrefix     string // "a<seed>-"
	idHead         string // {"id":"s<seed>-
	contactField   string // ,"contact_id":"c<seed>-
	anonField      string // ,"anonymous_id":"a<seed>-
	orderPrefix    string // "o<seed>-"
}

// New builds the audience and schedules its first activity. Out-of-range
// Config values are clamped (see Config.Validate).
func New(cfg Config) *Generator {
	cfg = cfg.withDefaults()
	seed := strconv.FormatUint(cfg.Seed, 10)
	g := &Generator{
		cfg:           cfg,
		now:           cfg.Start.UnixMilli(),
		dayNum:        math.MinInt64,
		evPrefix:      []byte("s" + seed + "-"),
		contactPrefix: "c" + seed + "-",
		anonPrefix:    "a" + seed + "-",
		orderPrefix:   "o" + seed + "-",
		idHead:        `{"id":"s` + seed + "-",
		contactField:  `,"contact_id":"c` + seed + "-",
		anonField:     `,"anonymous_id":"a` + seed + "-",
	}
	g.rnd.pcg.Seed(cfg.Seed, 0x6b6169726f73) // "kairos"
	g.bad.pcg.Seed(cfg.Seed, 0x626164)       // "bad"
	g.devMix = mix64(cfg.Seed ^ 0x9e3779b97f4a7c15)
	for i, name := range zoneNames {
		loc, err := time.LoadLocation(name)
		if err != nil { // cannot happen with time/tzdata linked in
			loc = time.FixedZone(name, zoneStdOffsets[i])
		}
		g.zones[i] = zoneCache{loc: loc, from: 1, until: 0}
	}
	cumulate(g.zoneCum[:], zoneShares[:])
	cumulate(g.agentCum[:], userAgentShares[:])
	cumulate(g.sourceCum[:], sourceShares[:])
	cumulate(g.hourCum[:], hourWeights[:])
	for c := range countries {
		for j := range 8 {
			g.firstSlug[c][j] = emailSlug(countries[c].first[j])
			g.lastSlug[c][j] = emailSlug(countries[c].last[j])
		}
	}
	g.cat = buildCatalog(g)

	n := cfg.Contacts + cfg.Visitors
	g.contacts = int32(cfg.Contacts)
	g.actors = make([]actor, n)
	g.tasks = make([]slot, 0, 1024)
	g.ring = make([][]slot, ringSize)
	g.horizon = (floorDiv(g.now, bucketWidth) + 1) * bucketWidth
	for i := range g.actors {
		if i < cfg.Contacts {
			g.initContact(&g.actors[i])
		} else {
			g.initVisitor(&g.actors[i])
		}
		g.scheduleSession(int32(i), g.now)
	}
	for s := range campaignSeries {
		g.push(task{at: g.firstOccurrence(s), kind: kCampaign, arg: int32(s)})
	}
	return g
}

// Now returns the current simulated time: the time of the latest scheduled
// activity the generator has processed.
func (g *Generator) Now() time.Time { return time.UnixMilli(g.now).UTC() }

// Next returns the next event, in simulated-time order except for the
// held-back share of Config.LateRate.
func (g *Generator) Next() Record {
	if g.hasPend {
		r := g.pending
		g.pending, g.hasPend = Record{}, false
		return r
	}
	r := g.nextGood()
	if g.cfg.BadRate > 0 && g.bad.float() < g.cfg.BadRate {
		g.pending, g.hasPend = r, true
		return g.makeBad(r)
	}
	return r
}

// Batch returns the next n events.
func (g *Generator) Batch(n int) []Record {
	recs := make([]Record, n)
	for i := range recs {
		recs[i] = g.Next()
	}
	return recs
}

// Mixed returns n events of a realistic mix for benchmarks: the audience
// is sized so that the n events span about one simulated week (a full
// cycle of daily rhythm and weekly campaigns, about 15 events per contact),
// after a week of warm-up so that carts, subscriptions and identities are
// under way.
func Mixed(n int, seed uint64) []Record {
	g := New(Config{Contacts: min(max(n/15, 100), 1_000_000), Seed: seed})
	g.skip(7 * day)
	return g.Batch(n)
}

// skip advances the simulation by d without rendering records.
func (g *Generator) skip(d int64) {
	end := g.now + d
	g.discard = true
	for g.now < end {
		g.nextGood()
	}
	g.discard = false
	clear(g.late) // consumed during the skip
	g.late = g.late[:0]
}

// nextGood returns the next well-formed record.
func (g *Generator) nextGood() Record {
	for {
		if len(g.late) > 0 && g.late[0].release <= g.next() {
			r := g.late[0].rec
			copy(g.late, g.late[1:])
			g.late[len(g.late)-1] = lateRecord{}
			g.late = g.late[:len(g.late)-1]
			return r
		}
		t := g.pop()
		g.now = max(g.now, t.at)
		topic := g.run(t)
		if topic == "" {
			continue
		}
		r := g.finish(topic)
		if g.cfg.LateRate > 0 && g.rnd.float() < g.cfg.LateRate {
			g.holdBack(r, g.now+second+g.rnd.int63n(119*second))
			continue
		}
		return r
	}
}

// lateRecord is a record held back until the clock passes release.
type lateRecord struct {
	release int64
	rec     Record
}

func (g *Generator) holdBack(r Record, release int64) {
	i := len(g.late)
	g.late = append(g.late, lateRecord{})
	for i > 0 && g.late[i-1].release > release {
		g.late[i] = g.late[i-1]
		i--
	}
	g.late[i] = lateRecord{release: release, rec: r}
}

// finish copies the rendered event and its key into one fresh allocation:
// the key is written after the value in g.out so that a single append
// copies both (append, unlike make, does not zero what it overwrites).
func (g *Generator) finish(topic string) Record {
	if g.discard {
		return Record{Topic: topic}
	}
	n := g.n
	k := copy(g.out[n:], g.out[g.keyOff:g.keyEnd])
	out := append([]byte(nil), g.out[:n+k]...)
	return Record{Topic: topic, Key: out[n : n+k : n+k], Value: out[:n:n]}
}

// task is a scheduled activity of the simulation. Handlers emit at most one
// event per task and schedule what follows as new tasks.
type task struct {
	at   int64 // Unix ms
	who  int32 // actor index
	arg  int32
	a2   int32
	a3   int32
	kind uint8
}

// Task kinds.
const (
	kSession  uint8 = iota + 1 // arg: session generation
	kCampaign                  // arg: campaign series
	kSend                      // who: next contact to consider, arg: campaign
	kDeliver                   // arg: campaign
	kOpen                      // arg: campaign, a2: 1 for a re-open
	kClick                     // arg: campaign
	kUnsub                     // arg: campaign, a2: 1 for all lists
	kComplain                  // arg: campaign
	kShip                      // arg: order number, a2: total, a3: one unit's price
	kCancel                    // arg: order number
	kRefund                    // arg: order number, a2: amount or -1 for none
)

// run processes one task and returns the topic of the event it rendered
// into g.out, or "" if it emitted nothing.
func (g *Generator) run(t task) string {
	switch t.kind {
	case kSession:
		return g.onSession(t)
	case kCampaign:
		g.onCampaign(t)
		return ""
	case kSend:
		return g.onSend(t)
	case kDeliver:
		return g.onDeliver(t)
	case kOpen:
		return g.onOpen(t)
	case kClick:
		return g.onClick(t)
	case kUnsub:
		return g.onUnsub(t)
	case kComplain:
		return g.onComplain(t)
	case kShip:
		return g.onShip(t)
	case kCancel:
		return g.onCancel(t)
	case kRefund:
		return g.onRefund(t)
	}
	return ""
}

// The schedule holds tasks in two tiers. Tasks due within the current
// hour (before g.horizon) are in a 4-ary min-heap; later ones wait in a
// ring of hourly buckets and enter the heap when their hour comes. The heap
// thus stays small enough to live in cache although a large audience has
// sessions, email opens and deliveries planned days ahead.
//
// A slot packs a task into 24 bytes, its time and kind into one ordered key.
type slot struct {
	key              int64 // at<<8 | kind
	who, arg, a2, a3 int32
}

const (
	bucketWidth = hour
	ringSize    = 4096 // hours ahead (170 days); later tasks wait in the last bucket
)

func (g *Generator) push(t task) {
	s := slot{key: t.at<<8 | int64(t.kind), who: t.who, arg: t.arg, a2: t.a2, a3: t.a3}
	if t.at >= g.horizon {
		b := min(floorDiv(t.at, bucketWidth), g.horizon/bucketWidth+ringSize-1)
		i := floorMod(b, ringSize)
		g.ring[i] = append(g.ring[i], s)
		return
	}
	g.heapPush(s)
}

func (g *Generator) heapPush(s slot) {
	h := append(g.tasks, s)
	i := len(h) - 1
	for i > 0 {
		p := (i - 1) / 4
		if h[p].key <= s.key {
			break
		}
		h[i] = h[p]
		i = p
	}
	h[i] = s
	g.tasks = h
}

// fill makes sure the heap holds the earliest task, moving hours of tasks
// in from the ring as needed. The schedule is never empty: every actor
// always has a visit planned.
func (g *Generator) fill() {
	for len(g.tasks) == 0 {
		i := floorMod(g.horizon/bucketWidth, ringSize)
		g.horizon += bucketWidth
		b := g.ring[i]
		g.ring[i] = b[:0]
		for _, s := range b {
			g.push(task{at: s.key >> 8, kind: uint8(s.key), who: s.who, arg: s.arg, a2: s.a2, a3: s.a3})
		}
	}
}

// next returns the time of the earliest task.
func (g *Generator) next() int64 {
	g.fill()
	return g.tasks[0].key >> 8
}

func (g *Generator) pop() task {
	g.fill()
	h := g.tasks
	top := h[0]
	n := len(h) - 1
	last := h[n]
	h = h[:n]
	if n > 0 {
		i := 0
		for {
			c := 4*i + 1
			if c+3 < n { // all four children: the common case, unrolled
				ch := h[c : c+4 : c+4]
				m, mk := 0, ch[0].key
				if k := ch[1].key; k < mk {
					m, mk = 1, k
				}
				if k := ch[2].key; k < mk {
					m, mk = 2, k
				}
				if k := ch[3].key; k < mk {
					m, mk = 3, k
				}
				if mk >= last.key {
					break
				}
				h[i] = ch[m]
				i = c + m
				continue
			}
			if c >= n {
				break
			}
			m := c
			for j := c + 1; j < n; j++ {
				if h[j].key < h[m].key {
					m = j
				}
			}
			if h[m].key >= last.key {
				break
			}
			h[i] = h[m]
			i = m
		}
		h[i] = last
	}
	g.tasks = h
	return task{at: top.key >> 8, kind: uint8(top.key), who: top.who, arg: top.arg, a2: top.a2, a3: top.a3}
}

// rng is a PCG source with the few draws the simulation needs.
type rng struct{ pcg rand.PCG }

func (r *rng) float() float64 { return float64(r.pcg.Uint64()>>11) * 0x1p-53 }

// intn returns a number in [0, n) (Lemire's multiply; the bias is below
// 2^-40 for the ranges used here).
func (r *rng) intn(n int) int {
	hi, _ := bits.Mul64(r.pcg.Uint64(), uint64(n))
	return int(hi)
}

func (r *rng) int63n(n int64) int64 {
	hi, _ := bits.Mul64(r.pcg.Uint64(), uint64(n))
	return int64(hi)
}

func (r *rng) chance(p float64) bool { return r.float() < p }

// exp draws an exponential variate with the given mean.
func (r *rng) exp(mean float64) float64 { return -math.Log(1-r.float()) * mean }

// normal draws an approximately standard normal variate (Irwin-Hall, 4
// uniforms): cheap, bounded to ±3.5.
func (r *rng) normal() float64 {
	return (r.float() + r.float() + r.float() + r.float() - 2) * math.Sqrt(3)
}

// pick draws an index from a cumulative distribution (see cumulate).
func (r *rng) pick(cum []float64) int {
	u := r.float()
	for i, c := range cum[:len(cum)-1] {
		if u < c {
			return i
		}
	}
	return len(cum) - 1
}

// cumulate turns weights into a cumulative distribution ending in 1.
func cumulate(dst, w []float64) {
	var sum float64
	for _, x := range w {
		sum += x
	}
	var acc float64
	for i, x := range w {
		acc += x
		dst[i] = acc / sum
	}
}

// Convenience wrappers on the behaviour source.
func (g *Generator) float() float64         { return g.rnd.float() }
func (g *Generator) intn(n int) int         { return g.rnd.intn(n) }
func (g *Generator) chance(p float64) bool  { return g.rnd.chance(p) }
func (g *Generator) expMs(mean int64) int64 { return int64(g.rnd.exp(float64(mean))) }

// mix64 is the splitmix64 finaliser, a bijection on uint64.
func mix64(x uint64) uint64 {
	x ^= x >> 30
	x *= 0xbf58476d1ce4e5b9
	x ^= x >> 27
	x *= 0x94d049bb133111eb
	x ^= x >> 31
	return x
}

// zoneCache holds a zone's UTC offset for the period it is valid in.
type zoneCache struct {
	loc         *time.Location
	from, until int64 // Unix ms; offset is valid in [from, until)
	offset      int64 // ms
}

// offset returns the UTC offset of zone z at ms, in ms.
func (g *Generator) offset(z uint8, ms int64) int64 {
	c := &g.zones[z]
	if ms >= c.from && ms < c.until {
		return c.offset
	}
	t := time.UnixMilli(ms).In(c.loc)
	_, off := t.Zone()
	c.offset = int64(off) * 1000
	start, end := t.ZoneBounds()
	c.from, c.until = math.MinInt64, int64(never)
	if !start.IsZero() {
		c.from = start.UnixMilli()
	}
	if !end.IsZero() {
		c.until = end.UnixMilli()
	}
	return c.offset
}

// localHour returns the local hour of day of ms in zone z.
func (g *Generator) localHour(z uint8, ms int64) int {
	l := ms + g.offset(z, ms)
	return int(floorMod(l, day) / hour)
}

// atLocal returns the time of local day-offset dayOffset (0: the local day
// of ms) at local millisecond-of-day tod in zone z.
func (g *Generator) atLocal(z uint8, ms int64, dayOffset int64, tod int64) int64 {
	off := g.offset(z, ms)
	l := ms + off
	return l - floorMod(l, day) + dayOffset*day + tod - off
}

func floorDiv(a, b int64) int64 {
	q := a / b
	if a%b != 0 && (a < 0) != (b < 0) {
		q--
	}
	return q
}

func floorMod(a, b int64) int64 {
	m := a % b
	if m < 0 {
		m += b
	}
	return m
}
