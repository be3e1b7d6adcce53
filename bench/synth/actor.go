package synth

import "math"

// actor is one person: a contact (actors[:contacts]) or an anonymous
// visitor. The persona fields are drawn once; the rest is their state.
type actor struct {
	nextBuy  int64  // next time a buyer means to buy; never for none
	lapseAt  int64  // lapsing buyers stop buying after this
	signupAt int64  // unknown contacts sign up in a session after this
	cartAt   int64  // when the cart was last changed
	device   uint64 // anonymous id number of the current browser
	activity float32
	engage   float32 // probability to open a delivered email
	clickP   float32 // probability to click an opened email
	gapDays  float32 // repeat buyers: typical days between orders
	gen      uint32  // session generation; session tasks of another one are stale
	campaign int32   // campaign index + 1 of an email click about to start a session
	orders   uint16
	flags    uint16

	zone, country, first, last, agent uint8
	prefHour, buyer, favCat           uint8
	job, industry, size, company      uint8
	domain, lists                     uint8

	nCart uint8
	cart  [4]cartLine
	sess  session
}

type cartLine struct {
	product uint8
	qty     uint8
}

// Actor flags.
const (
	fContact   uint16 = 1 << iota // can become known (else a pure visitor)
	fKnown                        // has contact id and email, may get email
	fLinked                       // the current browser is linked to the contact
	fB2B                          // has a job title and company
	fPhone                        // gives a phone number when identifying
	fBadAddr                      // mailbox does not exist: hard-bounces
	fBounced                      // suppressed after a hard bounce
	fUnsubAll                     // unsubscribed from all lists, or complained
	fInSession                    // a web session is under way
)

// BuyerType is how a contact buys.
type BuyerType uint8

// The buyer types.
const (
	NeverBuys BuyerType = iota // browses, may fill and abandon carts
	OneOff                     // buys once
	Repeat                     // buys again every GapDays or so
	Lapsing                    // buys like Repeat until some day, then stops
)

// String returns the type's name.
func (b BuyerType) String() string {
	switch b {
	case NeverBuys:
		return "never"
	case OneOff:
		return "one-off"
	case Repeat:
		return "repeat"
	case Lapsing:
		return "lapsing"
	}
	return "unknown"
}

// Persona describes one simulated contact, for demos and for tests that
// check behaviour against intent.
type Persona struct {
	ContactID       string
	Email           string
	AnonymousID     string // of the browser the contact uses now
	TimeZone        string // IANA
	Country         string // ISO 3166-1 alpha-2
	Language        string
	PreferredHour   int     // local hour of day the contact mostly reads email
	SessionsPerWeek float64 // web sessions
	Buyer           BuyerType
	GapDays         float64 // Repeat, Lapsing: typical days between orders
	B2B             bool
	JobTitle        string // B2B only
	Company         string // B2B only
	Known           bool   // has signed up, identified or been imported
	Orders          int    // orders placed so far
}

// Contacts returns the number of contacts (Persona indexes are below it).
func (g *Generator) Contacts() int { return int(g.contacts) }

// Persona returns contact i's persona and current state; ok is false when
// i is not in [0, Contacts()).
func (g *Generator) Persona(i int) (p Persona, ok bool) {
	if i < 0 || i >= int(g.contacts) {
		return Persona{}, false
	}
	a := &g.actors[i]
	c := &countries[a.country]
	p = Persona{
		ContactID:       string(g.appendContactID(nil, int32(i))),
		Email:           string(g.appendEmail(nil, a, int32(i))),
		AnonymousID:     string(g.appendAnonID(nil, a.device)),
		TimeZone:        zoneNames[a.zone],
		Country:         c.code,
		Language:        c.lang,
		PreferredHour:   int(a.prefHour),
		SessionsPerWeek: float64(a.activity),
		Buyer:           BuyerType(a.buyer),
		GapDays:         float64(a.gapDays),
		B2B:             a.flags&fB2B != 0,
		Known:           a.flags&fKnown != 0,
		Orders:          int(a.orders),
	}
	if p.B2B {
		p.JobTitle = jobTitles[a.job]
		p.Company = companies[a.company].name
	}
	return p, true
}

// newDevice gives the actor a fresh browser: anonymous id and user agent.
func (g *Generator) newDevice(a *actor) {
	g.devSeq++
	a.device = g.devSeq
	a.agent = uint8(g.rnd.pick(g.agentCum[:]))
	a.flags &^= fLinked
}

func (g *Generator) initPlace(a *actor) {
	a.zone = uint8(g.rnd.pick(g.zoneCum[:]))
	cs := zoneCountries[a.zone]
	a.country = cs[g.intn(len(cs))]
	a.favCat = uint8(g.intn(numCategories))
	g.newDevice(a)
}

func (g *Generator) initVisitor(a *actor) {
	*a = actor{nextBuy: never, lapseAt: never, signupAt: never}
	g.initPlace(a)
	a.activity = float32(min(0.2+g.rnd.exp(0.8), 7))
}

func (g *Generator) initContact(a *actor) {
	start := g.now
	*a = actor{nextBuy: never, lapseAt: never, signupAt: never, flags: fContact}
	g.initPlace(a)
	a.first = uint8(g.intn(8))
	a.last = uint8(g.intn(8))
	a.domain = uint8(g.intn(len(mailDomains)))
	if g.chance(0.3) {
		a.flags |= fB2B
		a.job = uint8(g.intn(len(jobTitles)))
		a.industry = uint8(g.intn(len(industries)))
		a.size = uint8(g.intn(len(companySizes)))
		a.company = uint8(g.intn(len(companies)))
	}
	if g.chance(0.4) {
		a.flags |= fPhone
	}
	if g.chance(0.015) {
		a.flags |= fBadAddr
	}

	// When they read email: office hours for B2B, otherwise before work,
	// at lunch or in the evening.
	switch u := g.float(); {
	case a.flags&fB2B != 0:
		a.prefHour = [...]uint8{7, 8, 8, 9, 9, 10, 13, 14}[g.intn(8)]
	case u < 0.35:
		a.prefHour = uint8(6 + g.intn(3))
	case u < 0.60:
		a.prefHour = uint8(11 + g.intn(3))
	default:
		a.prefHour = uint8(18 + g.intn(5))
	}
	a.engage = float32(0.05 + 0.6*pow15(g.float()))
	a.clickP = float32(0.04 + 0.16*g.float())
	a.activity = float32(min(0.3+g.rnd.exp(1.5), 14))

	switch u := g.float(); {
	case u < 0.55:
		a.buyer = uint8(NeverBuys)
	case u < 0.77:
		a.buyer = uint8(OneOff)
		a.nextBuy = start + g.rnd.int63n(75*day)
	case u < 0.90:
		a.buyer = uint8(Repeat)
	default:
		a.buyer = uint8(Lapsing)
		a.lapseAt = start + 15*day + g.rnd.int63n(60*day)
	}
	if b := BuyerType(a.buyer); b == Repeat || b == Lapsing {
		a.gapDays = float32(min(8+g.rnd.exp(12), 90))
		a.nextBuy = start + g.rnd.int63n(int64(float64(a.gapDays)*float64(day)))
		a.activity = max(a.activity, 2.5)
	}

	if g.chance(g.cfg.KnownShare) {
		a.flags |= fKnown
		g.subscribe(a, 0.85, 0.55)
	} else if g.chance(0.75) {
		a.signupAt = start + g.expMs(25*day)
	}
}

// subscribe opts a newly known contact in to lists.
func (g *Generator) subscribe(a *actor, newsletter, promotions float64) {
	if g.chance(newsletter) {
		a.lists |= listNewsletter
	}
	if g.chance(promotions) {
		a.lists |= listPromotions
	}
	if a.flags&fB2B != 0 && g.chance(0.6) {
		a.lists |= listProductUpdates
	}
}

// pow15 is x^1.5: skews engagement towards the low end, as it is.
func pow15(x float64) float64 { return x * math.Sqrt(x) }
