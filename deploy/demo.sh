#!/usr/bin/env bash
# make demo: a 3-region stretch cluster on loopback, end to end.
#   1. three brokers, one per region (us-east, eu-west, ap-south), on free ports
#   2. topic "orders": 3 partitions, RF 3, leaders.preference=regions:us-east
#      (kafka-python admin), leaders awaited in us-east
#   3. 1000 keyed messages produced with kcat (lz4, acks=all) to us-east
#   4. consumed from the eu-west broker with client.rack=eu-west-a
#   5. per-broker partition roles (/v1/status) and where the bytes went (/metrics)
#   6. the cluster stops (SIGTERM drain) and its directory is removed
# Usage: deploy/demo.sh [BUILD_DIR]   (DEMO_KEEP=1 keeps the cluster directory)
set -euo pipefail
cd "$(dirname "$0")/.."
build=${1:-build}
py=/usr/bin/python3
"$py" -c 'import kafka' 2>/dev/null || py=python3
"$py" -c 'import kafka' 2>/dev/null || { echo "demo: python3-kafka missing (make deps)" >&2; exit 1; }
command -v kcat >/dev/null || { echo "demo: kcat missing (make deps)" >&2; exit 1; }

tmp=$(mktemp -d /tmp/stretchlog-demo.XXXXXX)
cleanup() {
	"$py" deploy/cluster.py stop "$tmp" --timeout 40 >/dev/null 2>&1 || true
	if [ "${DEMO_KEEP:-0}" = 1 ]; then echo "demo: kept $tmp"; else rm -rf "$tmp"; fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM
step() { printf '\n== %s\n' "$*"; }

step "1. Starting brokers in three regions (deploy/cluster.sh, logs in $tmp)"
# Short transfer timers so that leaders settle in the preferred region within
# seconds (production defaults: 10 s healthy, 30 s cool-down).
"$py" deploy/cluster.py start "$tmp" --bin "$build/stretchlogd" --base-port auto \
	--regions us-east,eu-west,ap-south \
	--set leaders.transfer.healthy.min.ms=1000 --set leaders.transfer.cool.down.ms=1000 \
	--set log.retention.check.interval.ms=60000
addr() { "$py" -c 'import json,sys; c=json.load(open(sys.argv[1])); b=[b for b in c["brokers"] if b["region"]==sys.argv[2]][0]; print("127.0.0.1:%d %d %d" % (b["kafka"], b["admin"], b["id"]))' "$tmp/cluster.json" "$1"; }
read -r us_kafka us_admin us_id <<<"$(addr us-east)"
read -r eu_kafka eu_admin eu_id <<<"$(addr eu-west)"
read -r ap_kafka ap_admin ap_id <<<"$(addr ap-south)"
bootstrap=$("$py" deploy/cluster.py bootstrap "$tmp")

step "2. Creating topic orders (3 partitions, RF 3, leaders.preference=regions:us-east)"
"$py" - "$bootstrap" "$us_admin" <<'PY'
import json, sys, time, urllib.request
from kafka import KafkaAdminClient
from kafka.admin import NewTopic, ConfigResource, ConfigResourceType
bootstrap, us_admin = sys.argv[1], sys.argv[2]
a = KafkaAdminClient(bootstrap_servers=bootstrap, request_timeout_ms=15000)
r = a.create_topics([NewTopic("orders", 3, 3,
                              topic_configs={"leaders.preference": "regions:us-east"})])
print("CreateTopics:", [(t[0], t[1]) for t in r.topic_errors])
res = a.describe_configs([ConfigResource(ConfigResourceType.TOPIC, "orders")])[0].resources[0]
print("DescribeConfigs: leaders.preference =",
      [e[1] for e in res[4] if e[0] == "leaders.preference"][0])
a.close()
# Wait until the us-east broker leads every partition (pinning).
deadline = time.monotonic() + 45
while True:
    st = json.load(urllib.request.urlopen("http://127.0.0.1:%s/v1/status" % us_admin, timeout=5))
    led = sorted(p["partition"] for p in st["partitions"]
                 if p["topic"] == "orders" and p["role"] == "leader")
    if led == [0, 1, 2] or time.monotonic() > deadline:
        break
    time.sleep(0.2)
print("us-east (broker %d) leads partitions %s" % (st["node_id"], led))
PY
kcat -b "$eu_kafka" -L -t orders | sed -n '/topic/,$p'

step "3. Producing 1000 keyed messages with kcat (lz4, acks=all) to the us-east broker"
seq 1 1000 | awk '{printf "customer-%03d:order %d total=%d.%02d\n", $1 % 97, $1, $1 * 7 % 500, $1 % 100}' |
	kcat -b "$us_kafka" -P -t orders -K: -z lz4 -X acks=all
echo "produced 1000 messages"

step "4. Consuming everything from the eu-west broker (client.rack=eu-west-a)"
out=$(kcat -b "$eu_kafka" -X client.rack=eu-west-a -C -t orders -o beginning -e -q \
	-f '%p %o %k %s\n')
n=$(printf '%s\n' "$out" | grep -c '^[0-9]')
echo "consumed $n messages; first three:"
printf '%s\n' "$out" | head -n 3 | sed 's/^/  /'
[ "$n" = 1000 ] || { echo "demo: expected 1000 messages, consumed $n" >&2; exit 1; }

step "5. Partition roles per broker (/v1/status)"
for r in us-east eu-west ap-south; do
	read -r _k admin id <<<"$(addr "$r")"
	"$py" - "$admin" "$r" <<'PY'
import json, sys, urllib.request
admin, region = sys.argv[1], sys.argv[2]
st = json.load(urllib.request.urlopen("http://127.0.0.1:%s/v1/status" % admin, timeout=5))
parts = sorted((p for p in st["partitions"] if p["topic"] == "orders"), key=lambda p: p["partition"])
print("broker %d (%s, rack %s):" % (st["node_id"], region, st["rack"]) + "".join(
    "  orders/%d %-8s hwm=%d" % (p["partition"], p["role"], p["high_watermark"]) for p in parts))
PY
done

step "6. Where the bytes went (/metrics)"
for r in us-east eu-west ap-south; do
	read -r _k admin id <<<"$(addr "$r")"
	echo "broker $id ($r):"
	"$py" - "$admin" <<'PY' | sed 's/^/  /'
import re, sys, urllib.request
text = urllib.request.urlopen("http://127.0.0.1:%s/metrics" % sys.argv[1], timeout=5).read().decode()
want = re.compile(r'^(stretchlog_kafka_bytes_(in|out)_total\{api="(Produce|Fetch)"\}|'
                  r'stretchlog_consumer_bytes(_by_rack)?_total|'
                  r'stretchlog_preferred_replica_redirects_total|stretchlog_rpc_bytes_total|'
                  r'stretchlog_partitions\{|stretchlog_partition_leaders)')
for line in text.splitlines():
    if want.match(line) and not line.endswith(" 0"):
        print(line)
PY
done

fetched() {
	"$py" -c 'import re,sys,urllib.request; t=urllib.request.urlopen("http://127.0.0.1:%s/metrics" % sys.argv[1], timeout=5).read().decode(); m=re.search(r"^stretchlog_kafka_bytes_out_total\{api=\"Fetch\"\} (\S+)", t, re.M); print(int(float(m.group(1))) if m else 0)' "$1"
}
us_f=$(fetched "$us_admin")
eu_f=$(fetched "$eu_admin")
echo "Fetch response bytes: us-east $us_f, eu-west $eu_f, ap-south $(fetched "$ap_admin")"
if [ "$eu_f" -gt "$us_f" ]; then
	echo "(the us-east leaders pointed the eu-west-a client at its local replica, KIP-392;"
	echo " the eu-west follower served the records from its own copy)"
else
	echo "(the records were served by the us-east leaders)"
fi

step "7. Stopping the cluster (SIGTERM: leadership hand-off and drain)"
"$py" deploy/cluster.py stop "$tmp"
echo
echo "demo: ok"
