package synth

import "strconv"

// Events are rendered by appending into g.out with strconv, never through
// encoding/json: every string comes from the vocabulary in catalog.go or
// from ids and numbers generated here, none needs escaping, and the tests
// check that every value is valid JSON.

// w writes s at the end of the event being rendered.
func (g *Generator) w(s string) { g.n += copy(g.out[g.n:], s) }

// wb writes one byte.
func (g *Generator) wb(c byte) {
	g.out[g.n] = c
	g.n++
}

// tail returns the empty, writable end of the event being rendered, for
// strconv-style appends; grow then takes in what was appended to it.
func (g *Generator) tail() []byte { return g.out[g.n:g.n] }

func (g *Generator) grow(b []byte) { g.n += len(b) }

// begin starts an event: {"id":"s<seed>-<n>","type":"<typ>"
func (g *Generator) begin(typ string) {
	g.seq++
	g.n = 0
	b := append(g.tail(), g.idHead...)
	b = strconv.AppendUint(b, g.seq, 10)
	b = append(b, `","type":"`...)
	b = append(b, typ...)
	g.grow(append(b, '"'))
	g.keyOff = -1
}

// markKey records out[off:n] as the record key unless an id of
// higher rank was written first (ids are written in rank order).
func (g *Generator) markKey(off int) {
	if g.keyOff < 0 {
		g.keyOff, g.keyEnd = off, g.n
	}
}

func (g *Generator) idContact(who int32) {
	off := g.n + len(`,"contact_id":"`)
	g.w(g.contactField)
	g.grow(appendContactNum(g.tail(), who))
	g.markKey(off)
	g.wb('"')
}

func (g *Generator) idEmail(who int32, a *actor) {
	g.w(`,"email":"`)
	off := g.n
	g.grow(g.appendEmail(g.tail(), a, who))
	g.markKey(off)
	g.wb('"')
}

func (g *Generator) idAnon(a *actor) {
	off := g.n + len(`,"anonymous_id":"`)
	g.w(g.anonField)
	g.grow(g.appendAnonHex(g.tail(), a.device))
	g.markKey(off)
	g.wb('"')
}

// webIDs writes the ids a browser sends: the anonymous id, and the contact
// id once this browser is linked to a known contact.
func (g *Generator) webIDs(who int32, a *actor) {
	if a.flags&(fKnown|fLinked) == fKnown|fLinked {
		g.idContact(who)
	}
	g.idAnon(a)
}

// props writes the timestamp and opens properties: ,"timestamp":"...","properties":{
func (g *Generator) props() {
	b := append(g.tail(), `,"timestamp":"`...)
	b = g.appendTime(b, g.now)
	g.grow(append(b, `","properties":{`...))
}

// str appends `,"name":"value"` (name given with its leading separator and
// quotes, e.g. `,"sku":"`).
func (g *Generator) str(prefix, value string) {
	g.w(prefix)
	g.w(value)
	g.wb('"')
}

// emailEvent writes an email event up to its open properties, which hold
// the campaign: the caller adds properties and closes.
func (g *Generator) emailEvent(typ string, who int32, c *campaign) {
	a := &g.actors[who]
	g.begin(typ)
	g.idContact(who)
	g.idEmail(who, a)
	g.props()
	g.str(`"campaign":"`, c.name)
}

// orderEvent writes an order event up to its open properties, which hold
// the order id: the caller adds properties and closes.
func (g *Generator) orderEvent(typ string, who int32, order int32) {
	a := &g.actors[who]
	g.begin(typ)
	g.idContact(who)
	g.idEmail(who, a)
	g.props()
	g.w(`"order_id":"`)
	g.w(g.orderPrefix)
	g.grow(strconv.AppendInt(g.tail(), int64(order), 10))
	g.wb('"')
}

// renderOrder writes order_placed for the actor's cart and returns the
// total in cents.
func (g *Generator) renderOrder(who int32, a *actor, order int32) int64 {
	g.orderEvent("order_placed", who, order)
	b := append(g.tail(), `,"items":[`...)
	var total int64
	for i, l := range a.cart[:a.nCart] {
		p := &g.cat.products[l.product]
		if i > 0 {
			b = append(b, ',')
		}
		b = append(b, `{"sku":"`...)
		b = append(b, p.sku...)
		b = append(b, `","category":"`...)
		b = append(b, categories[p.cat].name...)
		b = append(b, `","quantity":`...)
		b = strconv.AppendInt(b, int64(l.qty), 10)
		b = append(b, `,"price":`...)
		b = appendCents(b, p.price)
		b = append(b, '}')
		total += int64(l.qty) * p.price
	}
	b = append(b, `],"total":`...)
	b = appendCents(b, total)
	g.grow(append(b, `,"currency":"EUR"}}`...))
	return total
}

// webContext closes properties and writes the browser context and the end
// of the event. The landing event of a session also carries referrer and
// UTM parameters.
func (g *Generator) webContext(a *actor, s *session) {
	g.wb('}')
	g.deviceContext(a, g.pageURL(s))
	if s.landing {
		g.grow(g.appendSource(g.tail(), s))
	}
	g.w(`}}`)
}

// deviceContext writes ,"context":{"ip":...,"user_agent":...[,"url":...],"timezone":...
// leaving the context object open.
func (g *Generator) deviceContext(a *actor, url string) {
	b := append(g.tail(), `,"context":{"ip":"`...)
	b = g.appendIP(b, a)
	b = append(b, userAgentFields[a.agent]...)
	if url != "" {
		b = append(b, `","url":"`...)
		b = append(b, url...)
	}
	g.grow(append(b, zoneFields[a.zone]...))
}

// appendSource appends the landing referrer and UTM parameters.
func (g *Generator) appendSource(b []byte, s *session) []byte {
	utm := func(b []byte, source, medium string) []byte {
		b = append(b, `,"utm":{"source":"`...)
		b = append(b, source...)
		b = append(b, `","medium":"`...)
		b = append(b, medium...)
		return append(b, `","campaign":"`...)
	}
	switch s.source {
	case srcOrganic:
		b = append(b, `,"referrer":"https://www.google.com/"`...)
	case srcReferral:
		b = append(b, `,"referrer":"https://www.trustpilot.com/"`...)
	case srcPaid:
		b = append(b, `,"referrer":"https://www.google.com/"`...)
		b = utm(b, "google", "cpc")
		b = append(b, "shopping-"...)
		b = append(b, categories[s.focus].name...)
		b = append(b, `"}`...)
	case srcSocial:
		b = append(b, `,"referrer":"https://www.instagram.com/"`...)
		b = utm(b, "instagram", "social")
		b = append(b, "lookbook-"...)
		n := len(b)
		b = g.appendTime(b, g.now)[:n+len("2026-01")]
		b = append(b, `"}`...)
	case srcEmail:
		c := &g.campaigns[s.campaign]
		b = utm(b, listName(c.list), "email")
		b = append(b, c.name...)
		b = append(b, `"}`...)
	}
	return b
}

func (g *Generator) pageView(who int32, a *actor, s *session) {
	g.begin("page_view")
	g.webIDs(who, a)
	g.props()
	g.str(`"url":"`, g.pageURL(s))
	if c := g.pageCategory(s); c >= 0 {
		g.str(`,"category":"`, categories[c].name)
	}
	g.webContext(a, s)
}

func (g *Generator) productView(who int32, a *actor, s *session, p int) {
	s.product = int16(p)
	s.pageKind, s.pageArg = pgProduct, uint16(p)
	pr := &g.cat.products[p]
	g.begin("product_view")
	g.webIDs(who, a)
	g.props()
	g.str(`"sku":"`, pr.sku)
	g.str(`,"category":"`, categories[pr.cat].name)
	g.w(`,"price":`)
	g.grow(appendCents(g.tail(), pr.price))
	g.webContext(a, s)
}

func (g *Generator) search(who int32, a *actor, s *session, cat uint8, q int) {
	g.begin("search")
	g.webIDs(who, a)
	g.props()
	g.str(`"query":"`, categories[cat].queries[q])
	g.webContext(a, s)
}

func (g *Generator) addToCart(who int32, a *actor, s *session) {
	p := uint8(s.product)
	qty := uint8(1)
	switch u := g.float(); {
	case u < 0.05:
		qty = 3
	case u < 0.2:
		qty = 2
	}
	merged := false
	for i := range a.cart[:a.nCart] {
		if a.cart[i].product == p {
			a.cart[i].qty = min(a.cart[i].qty+qty, 9)
			merged = true
			break
		}
	}
	if !merged {
		a.cart[a.nCart] = cartLine{product: p, qty: qty}
		a.nCart++
	}
	a.cartAt = g.now
	pr := &g.cat.products[p]
	g.begin("add_to_cart")
	g.webIDs(who, a)
	g.props()
	g.str(`"sku":"`, pr.sku)
	g.str(`,"category":"`, categories[pr.cat].name)
	g.w(`,"quantity":`)
	g.grow(strconv.AppendInt(g.tail(), int64(qty), 10))
	g.w(`,"price":`)
	g.grow(appendCents(g.tail(), pr.price))
	g.webContext(a, s)
}

func (g *Generator) removeFromCart(who int32, a *actor, s *session) {
	i := g.intn(int(a.nCart))
	l := a.cart[i]
	a.nCart--
	a.cart[i] = a.cart[a.nCart]
	a.cartAt = g.now
	pr := &g.cat.products[l.product]
	g.begin("remove_from_cart")
	g.webIDs(who, a)
	g.props()
	g.str(`"sku":"`, pr.sku)
	g.str(`,"category":"`, categories[pr.cat].name)
	g.w(`,"quantity":`)
	g.grow(strconv.AppendInt(g.tail(), int64(l.qty), 10))
	g.webContext(a, s)
}

func (g *Generator) formSubmit(who int32, a *actor, s *session) {
	g.begin("form_submit")
	if a.flags&(fB2B|fKnown|fLinked) == fB2B|fKnown|fLinked || a.flags&fB2B == 0 {
		g.webIDs(who, a)
	} else {
		// B2B forms ask for a business email before the download or demo.
		g.idEmail(who, a)
		g.idAnon(a)
	}
	g.props()
	switch {
	case a.flags&fB2B == 0 && s.product >= 0:
		g.str(`"form":"back-in-stock","sku":"`, g.cat.products[s.product].sku)
	case a.flags&fB2B == 0:
		g.w(`"form":"contact"`)
	case g.chance(0.12):
		s.pageKind = pgHome
		g.w(`"form":"request-demo"`)
	default:
		i := g.intn(len(contents))
		s.pageKind, s.pageArg = pgContent, uint16(i)
		g.str(`"form":"content-download","content":"`, contents[i])
	}
	g.webContext(a, s)
}

func (g *Generator) signup(who int32, a *actor, s *session) {
	c := &countries[a.country]
	g.begin("signup")
	g.idEmail(who, a)
	g.idAnon(a)
	g.props()
	g.str(`"list":"newsletter","traits":{"first_name":"`, c.first[a.first])
	g.str(`,"language":"`, c.lang)
	g.wb('}')
	g.webContext(a, s)
}

// identify links the browser's anonymous id to the contact id and email,
// with the contact's profile traits.
func (g *Generator) identify(who int32, a *actor, s *session) {
	c := &countries[a.country]
	g.begin("identify")
	g.idContact(who)
	g.idEmail(who, a)
	g.idAnon(a)
	g.props()
	g.str(`"traits":{"first_name":"`, c.first[a.first])
	g.str(`,"last_name":"`, c.last[a.last])
	g.str(`,"country":"`, c.code)
	g.str(`,"language":"`, c.lang)
	if a.flags&fB2B != 0 {
		g.str(`,"job_title":"`, jobTitles[a.job])
		g.str(`,"industry":"`, industries[a.industry])
		g.str(`,"company_size":"`, companySizes[a.size])
		g.str(`,"company":"`, companies[a.company].name)
	}
	if a.flags&fPhone != 0 {
		g.w(`,"phone":"`)
		g.grow(g.appendPhone(g.tail(), who, c))
		g.wb('"')
	}
	g.wb('}')
	g.webContext(a, s)
}

// Ids.

func (g *Generator) appendContactID(b []byte, who int32) []byte {
	return appendContactNum(append(b, g.contactPrefix...), who)
}

// appendContactNum appends the number part of a contact id, zero-padded to
// six digits.
func appendContactNum(b []byte, who int32) []byte {
	if who >= 1_000_000 {
		return strconv.AppendInt(b, int64(who), 10)
	}
	n := int(who)
	return append(b,
		twoDigits[n/10000*2], twoDigits[n/10000*2+1],
		twoDigits[n/100%100*2], twoDigits[n/100%100*2+1],
		twoDigits[n%100*2], twoDigits[n%100*2+1])
}

func (g *Generator) appendEmail(b []byte, a *actor, who int32) []byte {
	b = append(b, g.firstSlug[a.country][a.first]...)
	b = append(b, '.')
	b = append(b, g.lastSlug[a.country][a.last]...)
	b = strconv.AppendInt(b, int64(who), 10)
	b = append(b, '@')
	if a.flags&fB2B != 0 {
		return append(b, companies[a.company].domain...)
	}
	return append(b, mailDomains[a.domain]...)
}

// appendAnonID appends a<seed>-<16 hex digits>: a bijective scramble of
// the device number, so ids are unique and look like browser cookies.
func (g *Generator) appendAnonID(b []byte, device uint64) []byte {
	return g.appendAnonHex(append(b, g.anonPrefix...), device)
}

// appendAnonHex appends the hex part of an anonymous id.
func (g *Generator) appendAnonHex(b []byte, device uint64) []byte {
	x := mix64(device ^ g.devMix)
	var h [16]byte
	for i := 14; i >= 0; i -= 2 {
		p := (x & 0xff) * 2
		h[i], h[i+1] = hexPairs[p], hexPairs[p+1]
		x >>= 8
	}
	return append(b, h[:]...)
}

// hexPairs holds the two hex digits of every byte value.
const hexPairs = "" +
	"000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f" +
	"202122232425262728292a2b2c2d2e2f303132333435363738393a3b3c3d3e3f" +
	"404142434445464748494a4b4c4d4e4f505152535455565758595a5b5c5d5e5f" +
	"606162636465666768696a6b6c6d6e6f707172737475767778797a7b7c7d7e7f" +
	"808182838485868788898a8b8c8d8e8f909192939495969798999a9b9c9d9e9f" +
	"a0a1a2a3a4a5a6a7a8a9aaabacadaeafb0b1b2b3b4b5b6b7b8b9babbbcbdbebf" +
	"c0c1c2c3c4c5c6c7c8c9cacbcccdcecfd0d1d2d3d4d5d6d7d8d9dadbdcdddedf" +
	"e0e1e2e3e4e5e6e7e8e9eaebecedeeeff0f1f2f3f4f5f6f7f8f9fafbfcfdfeff"

// appendIP appends the device's IPv4 address: a first octet of the
// country's consumer ranges, the rest a hash of the device.
func (g *Generator) appendIP(b []byte, a *actor) []byte {
	x := mix64(a.device ^ g.devMix ^ 0x1b873593)
	b = appendOctet(b, countries[a.country].octets[x%3])
	b = append(b, '.')
	b = appendOctet(b, byte(x>>8))
	b = append(b, '.')
	b = appendOctet(b, byte(x>>16))
	b = append(b, '.')
	return appendOctet(b, byte(x>>24%254+1))
}

func appendOctet(b []byte, o byte) []byte {
	switch {
	case o >= 100:
		return append(b, '0'+o/100, '0'+o/10%10, '0'+o%10)
	case o >= 10:
		return append(b, '0'+o/10, '0'+o%10)
	}
	return append(b, '0'+o)
}

func (g *Generator) appendPhone(b []byte, who int32, c *country) []byte {
	b = append(b, c.phonePrefix...)
	x := mix64(uint64(who) ^ g.devMix ^ 0x85ebca6b)
	for i := range c.phoneDigits {
		d := byte(x % 10)
		x /= 10
		if i == 0 && c.code == "US" {
			d = 2 + d%8 // area codes do not start with 0 or 1
		}
		b = append(b, '0'+d)
	}
	return b
}

// Numbers and times.

// appendCents appends a non-negative amount of cents as a decimal with two
// places: 1999 → 19.99.
func appendCents(b []byte, cents int64) []byte {
	b = strconv.AppendInt(b, cents/100, 10)
	b = append(b, '.')
	return append2(b, int(cents%100))
}

func append2(b []byte, n int) []byte {
	return append(b, byte('0'+n/10), byte('0'+n%10))
}

// appendPadded appends n >= 0 in decimal, zero-padded to width digits.
func appendPadded(b []byte, n int64, width int) []byte {
	var tmp [20]byte
	i := len(tmp)
	for n > 0 || len(tmp)-i < width {
		i--
		tmp[i] = byte('0' + n%10)
		n /= 10
	}
	return append(b, tmp[i:]...)
}

// appendTime appends ms as RFC 3339 UTC with milliseconds,
// 2026-11-24T06:00:00.123Z. The date part is cached per day.
func (g *Generator) appendTime(b []byte, ms int64) []byte {
	d := ms / day
	rem := ms % day
	if rem < 0 {
		d--
		rem += day
	}
	if d != g.dayNum {
		g.dayNum = d
		y, m, dd := civil(d)
		t := g.dayText[:0]
		t = appendPadded(t, y, 4)
		t = append(t, '-')
		t = append2(t, m)
		t = append(t, '-')
		t = append2(t, dd)
		_ = append(t, 'T')
	}
	r := int(rem)
	msec := r % 1000
	s := r / 1000
	var t [13]byte // hh:mm:ss.mmmZ
	t[0], t[1] = twoDigits[s/3600*2], twoDigits[s/3600*2+1]
	t[2] = ':'
	t[3], t[4] = twoDigits[s/60%60*2], twoDigits[s/60%60*2+1]
	t[5] = ':'
	t[6], t[7] = twoDigits[s%60*2], twoDigits[s%60*2+1]
	t[8] = '.'
	t[9] = byte('0' + msec/100)
	t[10], t[11] = twoDigits[msec%100*2], twoDigits[msec%100*2+1]
	t[12] = 'Z'
	b = append(b, g.dayText[:]...)
	return append(b, t[:]...)
}

// twoDigits holds the two decimal digits of 0 to 99.
const twoDigits = "" +
	"00010203040506070809" +
	"10111213141516171819" +
	"20212223242526272829" +
	"30313233343536373839" +
	"40414243444546474849" +
	"50515253545556575859" +
	"60616263646566676869" +
	"70717273747576777879" +
	"80818283848586878889" +
	"90919293949596979899"

// civil converts days since 1970-01-01 to a proleptic Gregorian date
// (Howard Hinnant's days_from_civil inverse).
func civil(days int64) (year int64, month, dayOfMonth int) {
	z := days + 719468
	era := z / 146097
	if z < 0 && z%146097 != 0 {
		era--
	}
	doe := z - era*146097
	yoe := (doe - doe/1460 + doe/36524 - doe/146096) / 365
	year = yoe + era*400
	doy := doe - (365*yoe + yoe/4 - yoe/100)
	mp := (5*doy + 2) / 153
	dayOfMonth = int(doy - (153*mp+2)/5 + 1)
	if mp < 10 {
		month = int(mp + 3)
	} else {
		month = int(mp - 9)
	}
	if month <= 2 {
		year++
	}
	return year, month, dayOfMonth
}
