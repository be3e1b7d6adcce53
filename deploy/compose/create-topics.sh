#!/usr/bin/env bash
# Creates the Kairos topics on the compose broker, idempotently. Runs in the
# apache/kafka image. All input topics and kairos.rekey need the same
# partition count (the engine refuses to start otherwise); the engine would
# create missing inputs itself, but not the trigger and decision topics,
# which downstream senders read.
set -euo pipefail
bootstrap=${BOOTSTRAP:-kafka:9092}
partitions=${PARTITIONS:-8}
topics=/opt/kafka/bin/kafka-topics.sh

create() { # name partitions [config...]
  local name=$1 parts=$2; shift 2
  local configs=()
  for c in "$@"; do configs+=(--config "$c"); done
  "$topics" --bootstrap-server "$bootstrap" --create --if-not-exists \
    --topic "$name" --partitions "$parts" --replication-factor 1 "${configs[@]}"
}

# Inputs are kept: a partition without local state is rebuilt from them.
for t in kairos.clickstream kairos.orders kairos.email kairos.rekey; do
  create "$t" "$partitions" retention.ms=-1
done
create kairos.deadletter 1 retention.ms=604800000
for ch in email sms push sales; do
  create "kairos.triggers.$ch" "$partitions" retention.ms=604800000
done
create kairos.decisions "$partitions" retention.ms=2592000000
"$topics" --bootstrap-server "$bootstrap" --list
