package synth

import (
	"strconv"
	"time"
)

// campaign is one email send.
type campaign struct {
	name string
	url  string // the link in the email
	list uint8
	cat  uint8 // featured category
}

// campaignSeries are the recurring sends: a weekly newsletter, a weekly
// promotion and a four-weekly B2B product update. Times are UTC.
var campaignSeries = [...]struct {
	list      uint8
	weekday   time.Weekday
	hour      int
	everyDays int64
}{
	{listNewsletter, time.Tuesday, 9, 7},
	{listPromotions, time.Friday, 7, 7},
	{listProductUpdates, time.Wednesday, 14, 28},
}

// firstOccurrence returns the first send of series s at or after Start.
func (g *Generator) firstOccurrence(s int) int64 {
	cs := campaignSeries[s]
	st := g.cfg.Start.UTC()
	t := time.Date(st.Year(), st.Month(), st.Day(), cs.hour, 0, 0, 0, time.UTC)
	for t.Before(st) || t.Weekday() != cs.weekday {
		t = t.AddDate(0, 0, 1)
	}
	return t.UnixMilli()
}

// onCampaign creates the series' next campaign and starts sending it.
func (g *Generator) onCampaign(t task) {
	cs := campaignSeries[t.arg]
	now := g.Now()
	var b []byte
	switch cs.list {
	case listNewsletter:
		y, w := now.ISOWeek()
		b = appendYearWeek(append(b, "newsletter-"...), y, w)
	case listPromotions:
		y, w := now.ISOWeek()
		b = appendYearWeek(append(b, "promo-"...), y, w)
		b = append(append(b, '-'), promoThemes[now.Month()-1]...)
	default:
		b = strconv.AppendInt(append(b, "product-updates-"...), int64(now.Year()), 10)
		b = append(b, '-')
		b = append2(b, int(now.Month()))
	}
	name := string(b)
	cat := uint8(g.intn(numCategories))
	g.campaigns = append(g.campaigns, campaign{
		name: name,
		url:  g.cat.catURL[cat] + "?utm_source=" + listName(cs.list) + "&utm_medium=email&utm_campaign=" + name,
		list: cs.list,
		cat:  cat,
	})
	ci := int32(len(g.campaigns) - 1)
	g.push(task{at: g.now, kind: kSend, arg: ci})
	g.push(task{at: g.now + cs.everyDays*day, kind: kCampaign, arg: t.arg})
}

func appendYearWeek(b []byte, y, w int) []byte {
	b = strconv.AppendInt(b, int64(y), 10)
	b = append(b, "-w"...)
	return append2(b, w)
}

// eligible reports whether a campaign to list may be sent to a.
func eligible(a *actor, list uint8) bool {
	return a.flags&(fKnown|fBounced|fUnsubAll) == fKnown && a.lists&list != 0
}

// onSend sends campaign t.arg to the next eligible contact from t.who on,
// a few milliseconds apart, as an email service provider does.
func (g *Generator) onSend(t task) string {
	c := &g.campaigns[t.arg]
	i := t.who
	for i < g.contacts && !eligible(&g.actors[i], c.list) {
		i++
	}
	if i >= g.contacts {
		return ""
	}
	g.emailEvent("sent", i, c)
	g.w(`,"list":"`)
	g.w(listName(c.list))
	g.w(`"}}`)
	g.push(task{at: g.now + second + g.expMs(20*second), kind: kDeliver, who: i, arg: t.arg})
	g.push(task{at: g.now + 1 + g.rnd.int63n(8), kind: kSend, who: i + 1, arg: t.arg})
	return TopicEmail
}

func (g *Generator) onDeliver(t task) string {
	a := &g.actors[t.who]
	c := &g.campaigns[t.arg]
	switch {
	case a.flags&fBadAddr != 0 || g.chance(0.0008):
		a.flags |= fBounced
		g.emailEvent("bounced", t.who, c)
		g.w(`,"type":"hard"}}`)
	case g.chance(0.012):
		g.emailEvent("bounced", t.who, c)
		g.w(`,"type":"soft"}}`)
	default:
		g.emailEvent("delivered", t.who, c)
		g.w(`}}`)
		switch {
		case g.chance(0.0004):
			g.push(task{at: g.now + 10*minute + g.expMs(6*hour), kind: kComplain, who: t.who, arg: t.arg})
		case g.chance(float64(a.engage)):
			g.push(task{at: g.openTime(a, g.now), kind: kOpen, who: t.who, arg: t.arg})
		}
	}
	return TopicEmail
}

// openTime draws when a delivered email is opened: mostly around the
// contact's preferred local hour (that day or a later one), sometimes
// right away.
func (g *Generator) openTime(a *actor, delivered int64) int64 {
	if g.chance(0.2) {
		return delivered + 30*second + g.expMs(20*minute)
	}
	tod := int64(a.prefHour)*hour + 30*minute + int64(g.rnd.normal()*float64(20*minute))
	t := g.atLocal(a.zone, delivered, 0, tod)
	if t < delivered+2*minute {
		t += day
	}
	if g.chance(0.25) {
		t += day * int64(1+g.intn(2))
	}
	return t
}

func (g *Generator) onOpen(t task) string {
	a := &g.actors[t.who]
	c := &g.campaigns[t.arg]
	g.emailEvent("opened", t.who, c)
	g.wb('}')
	g.deviceContext(a, "")
	g.w(`}}`)
	if t.a2 == 0 && g.chance(0.1) {
		g.push(task{at: g.now + 20*minute + g.expMs(5*hour), kind: kOpen, who: t.who, arg: t.arg, a2: 1})
	}
	switch {
	case g.chance(float64(a.clickP)):
		g.push(task{at: g.now + 5*second + g.expMs(minute), kind: kClick, who: t.who, arg: t.arg})
	case g.chance(0.01):
		g.push(task{at: g.now + 20*second + g.expMs(minute), kind: kUnsub, who: t.who, arg: t.arg, a2: int32(g.intn(2))})
	}
	return TopicEmail
}

func (g *Generator) onClick(t task) string {
	a := &g.actors[t.who]
	c := &g.campaigns[t.arg]
	g.emailEvent("clicked", t.who, c)
	g.w(`,"url":"`)
	g.w(c.url)
	g.w(`"}`)
	g.deviceContext(a, "")
	g.w(`}}`)
	if g.chance(0.005) {
		g.push(task{at: g.now + 30*second + g.expMs(minute), kind: kUnsub, who: t.who, arg: t.arg, a2: int32(g.intn(2))})
	}
	g.startClickSession(t.who, t.arg, g.now+2*second+g.rnd.int63n(8*second))
	return TopicEmail
}

func (g *Generator) onUnsub(t task) string {
	a := &g.actors[t.who]
	if a.flags&fUnsubAll != 0 {
		return ""
	}
	c := &g.campaigns[t.arg]
	g.emailEvent("unsubscribed", t.who, c)
	if t.a2 == 1 {
		a.flags |= fUnsubAll
	} else {
		a.lists &^= c.list
		g.w(`,"list":"`)
		g.w(listName(c.list))
		g.wb('"')
	}
	g.w(`}}`)
	return TopicEmail
}

func (g *Generator) onComplain(t task) string {
	a := &g.actors[t.who]
	a.flags |= fUnsubAll // a complaint suppresses all marketing mail
	g.emailEvent("complained", t.who, &g.campaigns[t.arg])
	g.w(`}}`)
	return TopicEmail
}
