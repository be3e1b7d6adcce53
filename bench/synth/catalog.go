package synth

import (
	"math"
	"strconv"
	"strings"
)

// The tables in this file are read-only vocabulary. Everything drawn from
// them at random is drawn by a Generator from its own seeded source.

const shopURL = "https://shop.example.com"

// category is one shop category with its price band (cents) and search terms.
type category struct {
	name     string
	code     string // SKU prefix
	minPrice int64
	maxPrice int64
	queries  []string
}

var categories = [...]category{
	{"shoes", "SHO", 3999, 15999, []string{"running shoes", "white sneakers", "hiking boots", "leather boots", "trail runners"}},
	{"apparel", "APP", 1499, 8999, []string{"rain jacket", "merino sweater", "linen shirt", "wool socks", "hoodie"}},
	{"outdoor", "OUT", 1999, 29999, []string{"tent 2 person", "sleeping bag", "headlamp", "water bottle", "camping stove"}},
	{"home", "HOM", 999, 19999, []string{"desk lamp", "linen bedding", "plant pot", "throw blanket", "wall clock"}},
	{"kitchen", "KIT", 799, 12999, []string{"chef knife", "espresso maker", "cast iron pan", "cutting board", "tea kettle"}},
	{"beauty", "BEA", 499, 5999, []string{"vitamin c serum", "sunscreen spf 50", "shampoo bar", "hand cream", "lip balm"}},
	{"electronics", "ELE", 1999, 79999, []string{"noise cancelling headphones", "usb-c charger", "e-reader", "smart speaker", "power bank"}},
	{"books", "BOO", 799, 3999, []string{"cookbook", "thriller", "marketing books", "travel guide", "children books"}},
}

const (
	numCategories       = len(categories)
	productsPerCategory = 25
	numProducts         = numCategories * productsPerCategory
)

// product is one SKU of the catalogue.
type product struct {
	sku   string
	url   string
	cat   uint8
	price int64 // cents
}

// catalog holds the generator's catalogue and the precomputed URLs it uses.
type catalog struct {
	products   [numProducts]product
	catURL     [numCategories]string
	searchURL  [numCategories][]string
	contentURL [len(contents)]string
}

// buildCatalog draws prices from the generator's source.
func buildCatalog(g *Generator) *catalog {
	c := &catalog{}
	for ci := range categories {
		cat := &categories[ci]
		c.catURL[ci] = shopURL + "/c/" + cat.name
		for _, q := range cat.queries {
			c.searchURL[ci] = append(c.searchURL[ci], shopURL+"/search?q="+strings.ReplaceAll(q, " ", "+"))
		}
		for j := range productsPerCategory {
			num := 1000 + ci*7 + j*37 // distinct within a category
			sku := cat.code + "-" + strconv.Itoa(num)
			// Prices are log-uniform within the band and end in .99, .95,
			// .49 or .00, as shop prices do.
			lo, hi := float64(cat.minPrice), float64(cat.maxPrice)
			p := int64(lo * math.Pow(hi/lo, g.float()))
			p = p/100*100 + [...]int64{99, 95, 49, 0}[g.intn(4)]
			if p < 100 {
				p = 199
			}
			c.products[ci*productsPerCategory+j] = product{
				sku:   sku,
				url:   shopURL + "/p/" + strings.ToLower(sku),
				cat:   uint8(ci),
				price: p,
			}
		}
	}
	for i, ct := range contents {
		c.contentURL[i] = shopURL + "/resources/" + ct
	}
	return c
}

// Downloadable content (form_submit "content-download").
var contents = [...]string{
	"ebook-2026-trends",
	"whitepaper-customer-data",
	"webinar-personalisation-101",
	"checklist-email-deliverability",
	"report-retail-benchmark-2026",
	"guide-bulk-ordering",
}

// Time zones of the audience, with their shares.
var zoneNames = [...]string{
	"Europe/Amsterdam",
	"Europe/London",
	"America/New_York",
	"America/Los_Angeles",
	"Asia/Tokyo",
	"UTC",
}

// zoneFields are the zones as the last context field, to be written with
// one copy.
var zoneFields = func() (f [len(zoneNames)]string) {
	for i, z := range zoneNames {
		f[i] = `","timezone":"` + z + `"`
	}
	return f
}()

var zoneShares = [len(zoneNames)]float64{0.30, 0.20, 0.20, 0.10, 0.10, 0.10}

// Standard offsets, used only if a zone cannot be loaded.
var zoneStdOffsets = [len(zoneNames)]int{3600, 0, -5 * 3600, -8 * 3600, 9 * 3600, 0}

const zoneUTC = 5

// country is a country with its language, local names, phone prefix and a
// few first octets of its consumer IP ranges.
type country struct {
	code, lang  string
	first, last [8]string
	phonePrefix string
	phoneDigits int
	octets      [3]byte
}

var countries = [...]country{
	{"NL", "nl",
		[8]string{"Anna", "Daan", "Sophie", "Lucas", "Emma", "Sem", "Julia", "Bram"},
		[8]string{"de Vries", "Jansen", "Bakker", "Visser", "Smit", "Meijer", "de Boer", "Mulder"},
		"+316", 8, [3]byte{77, 84, 145}},
	{"GB", "en",
		[8]string{"Olivia", "Jack", "Amelia", "Harry", "Isla", "George", "Ava", "Oliver"},
		[8]string{"Smith", "Jones", "Taylor", "Brown", "Williams", "Wilson", "Evans", "Thomas"},
		"+447", 9, [3]byte{81, 86, 90}},
	{"US", "en",
		[8]string{"Emily", "James", "Madison", "Michael", "Ashley", "Ethan", "Chloe", "Daniel"},
		[8]string{"Johnson", "Miller", "Davis", "Garcia", "Rodriguez", "Martinez", "Anderson", "Moore"},
		"+1", 10, [3]byte{24, 73, 98}},
	{"JP", "ja",
		[8]string{"Yui", "Haruto", "Sakura", "Sota", "Hina", "Yuto", "Aoi", "Ren"},
		[8]string{"Sato", "Suzuki", "Takahashi", "Tanaka", "Watanabe", "Ito", "Yamamoto", "Nakamura"},
		"+8190", 8, [3]byte{126, 133, 153}},
	{"DE", "de",
		[8]string{"Mia", "Leon", "Hannah", "Finn", "Lena", "Paul", "Marie", "Jonas"},
		[8]string{"Mueller", "Schmidt", "Schneider", "Fischer", "Weber", "Meyer", "Wagner", "Becker"},
		"+4915", 9, [3]byte{87, 91, 93}},
	{"FR", "fr",
		[8]string{"Lea", "Hugo", "Chloe", "Louis", "Manon", "Gabriel", "Camille", "Arthur"},
		[8]string{"Martin", "Bernard", "Dubois", "Thomas", "Robert", "Richard", "Petit", "Durand"},
		"+336", 8, [3]byte{82, 90, 92}},
	{"ES", "es",
		[8]string{"Lucia", "Hugo", "Martina", "Mateo", "Sofia", "Pablo", "Paula", "Alejandro"},
		[8]string{"Garcia", "Fernandez", "Gonzalez", "Rodriguez", "Lopez", "Martinez", "Sanchez", "Perez"},
		"+346", 8, [3]byte{83, 88, 95}},
	{"IE", "en",
		[8]string{"Grace", "Conor", "Aoife", "Sean", "Ciara", "Cian", "Niamh", "Darragh"},
		[8]string{"Murphy", "Kelly", "O'Sullivan", "Walsh", "Smith", "O'Brien", "Byrne", "Ryan"},
		"+3538", 8, [3]byte{78, 86, 89}},
}

// Countries by zone: a zone's people come from these countries (UTC is what
// browsers report when the zone is unknown, so it mixes several).
var zoneCountries = [len(zoneNames)][]uint8{
	{0},          // Europe/Amsterdam: NL
	{1, 1, 1, 7}, // Europe/London: GB, some IE
	{2},          // America/New_York: US
	{2},          // America/Los_Angeles: US
	{3},          // Asia/Tokyo: JP
	{4, 5, 6, 7}, // UTC: DE, FR, ES, IE
}

// B2B persona vocabulary.
var (
	jobTitles = [...]string{
		"Marketing Manager", "Head of Growth", "CMO", "E-commerce Manager",
		"Data Analyst", "Procurement Officer", "Office Manager", "CTO",
		"Founder", "Operations Director", "Buyer", "Facilities Manager",
	}
	industries = [...]string{
		"Retail", "Hospitality", "Software", "Healthcare", "Education",
		"Manufacturing", "Financial Services", "Logistics",
	}
	companySizes = [...]string{"1-10", "11-50", "51-200", "201-1000", "1000+"}
	companies    = [...]struct{ name, domain string }{
		{"Northwind Traders", "northwind.example"},
		{"Globex", "globex.example"},
		{"Initech", "initech.example"},
		{"Umbrella Retail", "umbrella-retail.example"},
		{"Stark Logistics", "stark-logistics.example"},
		{"Wayne Hospitality", "wayne-hospitality.example"},
		{"Hooli", "hooli.example"},
		{"Vandelay Industries", "vandelay.example"},
		{"Acme Corp", "acme.example"},
		{"Soylent Foods", "soylent.example"},
		{"Tyrell Systems", "tyrell.example"},
		{"Cyberdyne Health", "cyberdyne.example"},
		{"Wonka Confectionery", "wonka.example"},
		{"Gringotts Finance", "gringotts.example"},
		{"Oceanic Air", "oceanic.example"},
		{"Duff Brewing", "duff.example"},
	}
	// Consumer mailbox domains (reserved example domains: never deliverable).
	mailDomains = [...]string{"example.com", "example.net", "example.org", "mail.example"}
)

// Browsers, one per device.
var userAgents = [...]string{
	"Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36",
	"Mozilla/5.0 (iPhone; CPU iPhone OS 18_1 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/18.1 Mobile/15E148 Safari/604.1",
	"Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Mobile Safari/537.36",
	"Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/18.1 Safari/605.1.15",
	"Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36 Edg/131.0.0.0",
	"Mozilla/5.0 (X11; Linux x86_64; rv:133.0) Gecko/20100101 Firefox/133.0",
}

// userAgentFields are the user agents as context fields, to be written
// with one copy.
var userAgentFields = func() (f [len(userAgents)]string) {
	for i, ua := range userAgents {
		f[i] = `","user_agent":"` + ua
	}
	return f
}()

var userAgentShares = [len(userAgents)]float64{0.30, 0.28, 0.18, 0.12, 0.08, 0.04}

// Traffic sources of a session's landing page.
const (
	srcDirect uint8 = iota
	srcOrganic
	srcPaid
	srcSocial
	srcReferral
	srcEmail // a click in a campaign email
)

var sourceShares = [...]float64{srcDirect: 0.30, srcOrganic: 0.35, srcPaid: 0.15, srcSocial: 0.10, srcReferral: 0.10}

// Email lists.
const (
	listNewsletter uint8 = 1 << iota
	listPromotions
	listProductUpdates
)

func listName(l uint8) string {
	switch l {
	case listNewsletter:
		return "newsletter"
	case listPromotions:
		return "promotions"
	default:
		return "product-updates"
	}
}

// Themes of the weekly promotion, by month.
var promoThemes = [12]string{
	"winter-sale", "valentines", "spring-refresh", "easter", "mothers-day",
	"summer-kickoff", "summer-sale", "back-to-school", "autumn-new-in",
	"halloween", "black-friday", "holiday-gifts",
}

var carriers = [...]string{"postnl", "dhl", "ups", "dpd"}

var cancelReasons = [...]string{"customer_request", "payment_failed", "out_of_stock"}

// Relative activity by local hour of day: quiet nights, a lunch bump and an
// evening peak.
var hourWeights = [24]float64{
	1.0, 0.5, 0.3, 0.2, 0.2, 0.4, 1.0, 2.0, 3.0, 3.5, 3.5, 4.0,
	5.0, 5.0, 4.0, 4.0, 4.0, 4.5, 5.0, 6.0, 7.0, 7.0, 5.5, 3.0,
}

// Names that look like event types but are not, for unknown_type records.
var unknownTypes = [...]string{"page_visit", "cart_update", "purchase", "email_read", "PageView"}

// Malformed timestamps, for bad_timestamp records: impossible values,
// prose, other layouts and a local time without a zone.
var badTimestamps = [...]string{"2026-02-30T25:61:00Z", "yesterday", "2026/01/05 10:00:00", "05-01-2026 10:00", "2026-01-05T10:00:00"}

// emailSlug lowercases a name and keeps only letters, for email addresses.
func emailSlug(s string) string {
	var b strings.Builder
	for _, r := range strings.ToLower(s) {
		if r >= 'a' && r <= 'z' {
			b.WriteRune(r)
		}
	}
	return b.String()
}
