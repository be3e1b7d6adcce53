package synth

// session is the state of an actor's web visit.
type session struct {
	campaign     int32 // campaign index of an email-click session, -1 otherwise
	product      int16 // last viewed product, -1 for none
	nextProduct  int16 // product_view owed after landing on a product page, -1 for none
	pageArg      uint16
	pageKind     uint8
	step, steps  uint8
	phase        uint8
	focus        uint8 // category the visitor is shopping for
	source       uint8
	intent       bool // means to buy in this session
	landing      bool // the next event is the landing page_view
	identifyNext bool // a signup was just submitted: identify follows
}

// Session phases.
const (
	phBrowse uint8 = iota
	phCheckout
	phIdentify
	phOrder
)

// Page kinds (session.pageKind), for properties.url and context.url.
const (
	pgHome uint8 = iota
	pgCategory
	pgProduct
	pgSearch // pageArg: category<<8 | query
	pgContent
	pgCheckout
	pgCampaign // the campaign's landing URL
)

// Browsing actions.
const (
	actProductView = iota
	actPageView
	actSearch
	actAddToCart
	actRemoveFromCart
	actFormSubmit
	numActions
)

// scheduleSession plans the actor's next visit after `after`: an
// exponential wait for its activity level, placed at an hour drawn from the
// daily rhythm in the actor's local time.
func (g *Generator) scheduleSession(who int32, after int64) {
	a := &g.actors[who]
	perWeek := float64(a.activity)
	if after >= a.lapseAt {
		perWeek *= 0.3 // lapsed buyers drift away
	}
	t := after + g.expMs(int64(7*float64(day)/perWeek))
	h := g.rnd.pick(g.hourCum[:])
	nt := g.atLocal(a.zone, t, 0, int64(h)*hour+g.rnd.int63n(hour))
	for nt < after+15*minute {
		nt += day
	}
	a.gen++
	g.push(task{at: nt, kind: kSession, who: who, arg: int32(a.gen)})
}

// startClickSession starts a visit from a click in campaign ci, unless the
// contact is already browsing.
func (g *Generator) startClickSession(who, ci int32, at int64) {
	a := &g.actors[who]
	if a.flags&fInSession != 0 {
		return
	}
	a.gen++ // the planned visit is replaced by this one
	a.campaign = ci + 1
	g.push(task{at: at, kind: kSession, who: who, arg: int32(a.gen)})
}

func (g *Generator) onSession(t task) string {
	a := &g.actors[t.who]
	if uint32(t.arg) != a.gen {
		return "" // replaced by a visit from an email click
	}
	if a.flags&fInSession == 0 {
		g.beginSession(a)
	}
	s := &a.sess
	topic := TopicClickstream
	switch s.phase {
	case phBrowse:
		g.browse(t.who, a, s)
		s.step++
		if s.step >= s.steps && !s.identifyNext && s.nextProduct < 0 {
			if a.nCart == 0 || !g.converts(a, s) {
				g.endSession(t.who, a)
				return topic
			}
			s.phase = phCheckout
		}
	case phCheckout:
		s.pageKind = pgCheckout
		g.pageView(t.who, a, s)
		s.phase = phOrder
		if a.flags&(fKnown|fLinked) != fKnown|fLinked {
			s.phase = phIdentify // sign in or guest checkout with an email
		}
	case phIdentify:
		if a.flags&fKnown == 0 {
			a.flags |= fKnown
			g.subscribe(a, 0.35, 0.2) // opt-in box at checkout
		}
		a.flags |= fLinked
		g.identify(t.who, a, s)
		s.phase = phOrder
	case phOrder:
		g.placeOrder(t.who, a)
		g.endSession(t.who, a)
		return TopicOrders
	}
	gap := 8*second + g.expMs(40*second)
	if s.phase != phBrowse {
		gap = 15*second + g.expMs(30*second)
	}
	g.push(task{at: g.now + gap, kind: kSession, who: t.who, arg: t.arg})
	return topic
}

// canBuy reports whether the actor may still place orders at all.
func (g *Generator) canBuy(a *actor) bool {
	b := BuyerType(a.buyer)
	return a.flags&fContact != 0 && b != NeverBuys && g.now < a.lapseAt && (b != OneOff || a.orders == 0)
}

func (g *Generator) converts(a *actor, s *session) bool {
	switch {
	case !g.canBuy(a):
		return false
	case s.intent:
		return g.chance(0.7)
	default:
		return g.chance(0.04) // impulse
	}
}

func (g *Generator) beginSession(a *actor) {
	s := &a.sess
	*s = session{campaign: a.campaign - 1, product: -1, nextProduct: -1, landing: true}
	a.campaign = 0
	a.flags |= fInSession
	contact := a.flags&fContact != 0
	if contact && a.flags&fLinked != 0 && g.chance(0.06) {
		g.newDevice(a) // a new phone, a cleared cookie, the office laptop
	}
	if a.nCart > 0 && g.now-a.cartAt > 7*day {
		a.nCart = 0 // the cart cookie expired
	}
	s.intent = g.canBuy(a) && (g.now >= a.nextBuy || g.chance(0.015))
	s.focus = a.favCat
	if g.chance(0.45) {
		s.focus = uint8(g.intn(numCategories))
	}

	if s.campaign >= 0 {
		s.source = srcEmail
		s.focus = g.campaigns[s.campaign].cat
		s.pageKind = pgCampaign
	} else {
		s.source = uint8(g.rnd.pick(g.sourceCum[:]))
		var pProduct, pCategory float64 // the rest lands on home (content for B2B)
		switch s.source {
		case srcDirect:
			pCategory = 0.4
		case srcOrganic:
			pProduct, pCategory = 0.5, 0.4
		case srcPaid:
			pProduct, pCategory = 0.6, 0.4
		case srcSocial:
			pProduct, pCategory = 0.5, 0.5
		case srcReferral:
			pProduct = 0.7
		}
		switch u := g.float(); {
		case u < pProduct:
			p := g.pickProduct(s.focus)
			s.pageKind, s.pageArg, s.nextProduct = pgProduct, uint16(p), int16(p)
		case u < pProduct+pCategory:
			s.pageKind, s.pageArg = pgCategory, uint16(s.focus)
		case a.flags&fB2B != 0 && s.source == srcOrganic:
			s.pageKind, s.pageArg = pgContent, uint16(g.intn(len(contents)))
		default:
			s.pageKind = pgHome
		}
	}

	var steps int
	switch {
	case s.intent:
		steps = 5 + g.intn(10)
	case s.source == srcEmail:
		steps = 2 + int(g.rnd.exp(3))
	case g.chance(0.28):
		steps = 1 // bounced off the landing page
	default:
		steps = 2 + int(g.rnd.exp(4))
	}
	if s.nextProduct >= 0 {
		steps = max(steps, 2)
	}
	s.steps = uint8(min(steps, 30))
}

func (g *Generator) endSession(who int32, a *actor) {
	a.flags &^= fInSession
	if a.flags&fContact == 0 && g.chance(0.35) {
		// This visitor never comes back; a new one takes the slot.
		gen := a.gen
		g.initVisitor(a)
		a.gen = gen
	}
	g.scheduleSession(who, g.now)
}

// browse emits one event of a session's browsing phase.
func (g *Generator) browse(who int32, a *actor, s *session) {
	contact := a.flags&fContact != 0
	switch {
	case s.landing:
		g.pageView(who, a, s) // with referrer and UTM parameters
		s.landing = false
	case s.nextProduct >= 0:
		p := int(s.nextProduct)
		s.nextProduct = -1
		g.productView(who, a, s, p)
	case s.identifyNext:
		s.identifyNext = false
		a.flags |= fKnown | fLinked
		g.identify(who, a, s)
	case contact && a.flags&fKnown == 0 && g.now >= a.signupAt && g.chance(0.35):
		g.signup(who, a, s)
		g.subscribe(a, 1, 0.5)
		s.identifyNext = true
	case contact && a.flags&(fKnown|fLinked) == fKnown && s.step == 1 &&
		(s.source == srcEmail || g.chance(0.45)):
		// Signs in, or arrives through a tracked email link.
		a.flags |= fLinked
		g.identify(who, a, s)
	case s.intent && a.nCart == 0 && int(s.step)+1 >= int(s.steps):
		if s.product >= 0 {
			g.addToCart(who, a, s)
		} else {
			g.productView(who, a, s, g.pickProduct(s.focus))
			s.steps++
		}
	default:
		g.randomAction(who, a, s)
	}
}

func (g *Generator) randomAction(who int32, a *actor, s *session) {
	var w [numActions]float64
	w[actProductView] = 40
	w[actPageView] = 20
	w[actSearch] = 10
	if s.product >= 0 {
		w[actAddToCart] = 5
		if s.intent {
			w[actAddToCart] = 20
		}
		w[actFormSubmit] = 0.5 // back-in-stock alert
	}
	if a.nCart > 0 {
		w[actRemoveFromCart] = 3
	}
	if a.flags&fB2B != 0 {
		w[actFormSubmit] = 5
	}
	var cum [numActions]float64
	cumulate(cum[:], w[:])
	switch g.rnd.pick(cum[:]) {
	case actProductView:
		cat := s.focus
		if g.chance(0.2) {
			cat = uint8(g.intn(numCategories))
		}
		g.productView(who, a, s, g.pickProduct(cat))
	case actPageView:
		switch u := g.float(); {
		case a.flags&fB2B != 0 && u < 0.25:
			s.pageKind, s.pageArg = pgContent, uint16(g.intn(len(contents)))
		case u < 0.5:
			s.pageKind, s.pageArg = pgCategory, uint16(s.focus)
		case u < 0.8:
			s.pageKind, s.pageArg = pgCategory, uint16(g.intn(numCategories))
		default:
			s.pageKind = pgHome
		}
		g.pageView(who, a, s)
	case actSearch:
		cat := s.focus
		if g.chance(0.3) {
			cat = uint8(g.intn(numCategories))
			s.focus = cat
		}
		q := g.intn(len(categories[cat].queries))
		s.pageKind, s.pageArg = pgSearch, uint16(cat)<<8|uint16(q)
		g.search(who, a, s, cat, q)
	case actAddToCart:
		if a.nCart == uint8(len(a.cart)) {
			g.removeFromCart(who, a, s)
		} else {
			g.addToCart(who, a, s)
		}
	case actRemoveFromCart:
		g.removeFromCart(who, a, s)
	case actFormSubmit:
		g.formSubmit(who, a, s)
	}
}

// pickProduct draws a product of category cat, popular ones more often.
func (g *Generator) pickProduct(cat uint8) int {
	u := g.float()
	return int(cat)*productsPerCategory + int(u*u*productsPerCategory)
}

func (g *Generator) pageURL(s *session) string {
	switch s.pageKind {
	case pgCategory:
		return g.cat.catURL[s.pageArg]
	case pgProduct:
		return g.cat.products[s.pageArg].url
	case pgSearch:
		return g.cat.searchURL[s.pageArg>>8][s.pageArg&0xff]
	case pgContent:
		return g.cat.contentURL[s.pageArg]
	case pgCheckout:
		return shopURL + "/checkout"
	case pgCampaign:
		return g.campaigns[s.campaign].url
	}
	return shopURL + "/"
}

// pageCategory returns the category a page belongs to, or -1.
func (g *Generator) pageCategory(s *session) int {
	switch s.pageKind {
	case pgCategory:
		return int(s.pageArg)
	case pgProduct:
		return int(g.cat.products[s.pageArg].cat)
	case pgCampaign:
		return int(g.campaigns[s.campaign].cat)
	}
	return -1
}

// nextOrderBuy plans a buyer's next purchase after an order.
func (g *Generator) nextOrderBuy(a *actor) {
	switch BuyerType(a.buyer) {
	case Repeat, Lapsing:
		gap := float64(a.gapDays) * (0.6 + 0.8*g.float())
		a.nextBuy = g.now + int64(gap*float64(day))
		if a.nextBuy >= a.lapseAt {
			a.nextBuy = never
		}
	default:
		a.nextBuy = never
	}
}

// placeOrder turns the cart into an order and plans what happens to it.
func (g *Generator) placeOrder(who int32, a *actor) {
	g.orderSeq++
	n := int32(g.orderSeq)
	total := g.renderOrder(who, a, n)
	line := a.cart[g.intn(int(a.nCart))]
	unit := g.cat.products[line.product].price
	a.nCart = 0
	a.orders++
	g.nextOrderBuy(a)
	if g.chance(0.04) {
		g.push(task{at: g.now + 10*minute + g.expMs(2*hour), kind: kCancel, who: who, arg: n})
		return
	}
	g.push(task{at: g.now + 18*hour + g.rnd.int63n(48*hour), kind: kShip, who: who, arg: n,
		a2: int32(total), a3: int32(unit)})
}

func (g *Generator) onShip(t task) string {
	g.orderEvent("order_shipped", t.who, t.arg)
	g.w(`,"carrier":"`)
	g.w(carriers[g.intn(len(carriers))])
	g.w(`"}}`)
	if g.chance(0.08) {
		amount := int32(-1) // whole order, amount left out
		switch u := g.float(); {
		case u < 0.25:
			amount = t.a2 // whole order, amount given
		case u < 0.6:
			amount = t.a3 // one item back
		}
		g.push(task{at: g.now + 4*day + g.rnd.int63n(14*day), kind: kRefund, who: t.who, arg: t.arg, a2: amount})
	}
	return TopicOrders
}

func (g *Generator) onCancel(t task) string {
	g.orderEvent("order_cancelled", t.who, t.arg)
	g.w(`,"reason":"`)
	g.w(cancelReasons[g.intn(len(cancelReasons))])
	g.w(`"}}`)
	return TopicOrders
}

func (g *Generator) onRefund(t task) string {
	g.orderEvent("order_refunded", t.who, t.arg)
	if t.a2 >= 0 {
		g.w(`,"amount":`)
		g.grow(appendCents(g.tail(), int64(t.a2)))
	}
	g.w(`}}`)
	return TopicOrders
}
