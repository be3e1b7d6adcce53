#!/bin/sh
# Synthetic shop traffic for the compose stack, published to the real Kafka
# broker with `kairos produce` (which validates and keys every event as the
# engine does). `kairos demo` cannot do this: it always starts its own
# embedded broker and engine and has no --brokers flag. This script is the
# stand-in until it has one.
#
# Every second it writes RATE events (traffic.awk) for CONTACTS people and
# publishes them to kairos.clickstream, kairos.orders and kairos.email. Event
# ids carry the start time, so a restarted generator never repeats an id.
set -eu
brokers=${BROKERS:-kafka:9092}
rate=${RATE:-50}
contacts=${CONTACTS:-2000}
kairos=${KAIROS:-/out/kairos}
here=$(dirname "$0")
run=$(date +%s)
dir=$(mktemp -d)
tick=0
echo "traffic: $rate events/s for $contacts contacts to $brokers (run $run)"
while :; do
  rm -f "$dir"/*.jsonl
  awk -v run="$run" -v tick="$tick" -v n="$rate" -v contacts="$contacts" \
      -v now="$(date -u +%Y-%m-%dT%H:%M:%S)" -v dir="$dir" -f "$here/traffic.awk"
  for t in clickstream orders email; do
    if [ -s "$dir/$t.jsonl" ]; then
      "$kairos" produce --brokers "$brokers" --topic "kairos.$t" --create-topics=false \
        --file "$dir/$t.jsonl" >/dev/null || echo "traffic: publishing to kairos.$t failed; retrying next second" >&2
    fi
  done
  tick=$((tick + 1))
  sleep 1
done
