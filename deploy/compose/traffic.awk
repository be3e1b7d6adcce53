# One second of synthetic shop traffic as JSON lines, one file per topic
# (see traffic.sh). People 0..contacts-1: the first 40% are customers with
# a contact id and an email; the others are anonymous visitors, some of
# whom sign in (identify), which links their browsing to a contact.
# Variables: run, tick, n (events), contacts, now (UTC, seconds), dir.
function pick(list,   a, k) { k = split(list, a, " "); return a[1 + int(rand() * k)] }
function ts(i) { return sprintf("%s.%03dZ", now, int(i * 1000 / n)) }
function ids(c, logged) {
  if (c < known && logged) return sprintf("\"contact_id\":\"c-%d\"", c)
  return sprintf("\"anonymous_id\":\"a-%d\"", c)
}
function emit(topic, id, type, who, props, i) {
  printf "{\"id\":\"%s\",\"type\":\"%s\",%s,\"timestamp\":\"%s\",\"properties\":{%s}}\n", \
    id, type, who, ts(i), props > (dir "/" topic ".jsonl")
}
BEGIN {
  # mawk keeps 32 bits of the seed and treats 0 like 1: keep it small,
  # positive and distinct per tick.
  srand((run % 100000) * 10000 + tick % 10000 + 1)
  known = int(contacts * 0.4)
  cats = "shoes socks shirts jackets bags hats"
  campaigns = "weekly-news spring-sale new-arrivals loyalty"
  for (i = 0; i < n; i++) {
    c = int(rand() * contacts)
    id = sprintf("evt-%d-%d-%d", run, tick, i)
    logged = rand() < 0.7
    who = ids(c, logged)
    cat = pick(cats)
    sku = sprintf("%s-%d", toupper(cat), int(rand() * 40))
    r = rand()
    if (r < 0.45) {
      emit("clickstream", id, "page_view", who, sprintf("\"url\":\"https://shop.example/%s\",\"category\":\"%s\"", cat, cat), i)
    } else if (r < 0.65) {
      emit("clickstream", id, "product_view", who, sprintf("\"sku\":\"%s\",\"category\":\"%s\"", sku, cat), i)
    } else if (r < 0.72) {
      emit("clickstream", id, "add_to_cart", who, sprintf("\"sku\":\"%s\",\"category\":\"%s\",\"quantity\":%d,\"price\":%.2f", sku, cat, 1 + int(rand() * 2), 5 + rand() * 95), i)
    } else if (r < 0.76) {
      emit("clickstream", id, "search", who, sprintf("\"query\":\"%s %s\"", pick("red blue black cheap warm"), cat), i)
    } else if (r < 0.78 && c >= known) {
      # An anonymous visitor signs in: links a-c to a new customer.
      emit("clickstream", id, "identify", sprintf("\"contact_id\":\"c-%d\",\"email\":\"shopper%d@example.com\",\"anonymous_id\":\"a-%d\"", c, c, c), \
        sprintf("\"traits\":{\"country\":\"%s\"}", pick("FR DE ES IT NL")), i)
    } else if (r < 0.81 && c < known) {
      items = 1 + int(rand() * 3); total = 0; lines = ""
      for (k = 0; k < items; k++) {
        price = 5 + int(rand() * 9500) / 100; q = 1 + int(rand() * 2); total += price * q
        lines = lines sprintf("%s{\"sku\":\"%s-%d\",\"category\":\"%s\",\"quantity\":%d,\"price\":%.2f}", (k ? "," : ""), toupper(cat), k, cat, q, price)
      }
      emit("orders", id, "order_placed", sprintf("\"contact_id\":\"c-%d\"", c), \
        sprintf("\"order_id\":\"o-%d-%d-%d\",\"items\":[%s],\"total\":%.2f,\"currency\":\"EUR\"", run, tick, i, lines, total), i)
    } else if (c < known) {
      e = rand(); type = e < 0.4 ? "sent" : e < 0.7 ? "delivered" : e < 0.9 ? "opened" : "clicked"
      props = sprintf("\"campaign\":\"%s\"", pick(campaigns))
      if (type == "clicked") props = props ",\"url\":\"https://shop.example/sale\""
      emit("email", id, type, sprintf("\"email\":\"shopper%d@example.com\"", c), props, i)
    } else {
      emit("clickstream", id, "page_view", who, "\"url\":\"https://shop.example/\"", i)
    }
  }
}
