#!/bin/bash
# Measures one daemon under the flood of node/examples/flood.rs
# (docs/benchmarks.md, "Flood"): RSS, CPU time, ledger size and chains
# before and after 8 s of flood, `ippoc status` latency once a second
# during it, and the daemon's log lines. Only 127.0.0.1.
# usage: scripts/flood-measure.sh <ippoc binary> <flood binary> <label> [member]
# With `member`, the swarm has two founders, the daemon and the flooder,
# which floods its own chain; otherwise it floods with outside keys.
set -u
B=$1; F=$2; LABEL=$3; MODE=${4:-outsider}
D=$(mktemp -d /tmp/flood.XXXX)
PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
cat > $D/test.toml <<EOF
[api]
port = 0
[metrics]
listen = "127.0.0.1:0"
[mesh]
listen = ["/ip4/127.0.0.1/tcp/$PORT"]
EOF
ID=$($B --data-dir $D/data --config $D/test.toml --json init 2>/dev/null | python3 -c 'import json,sys; print(json.load(sys.stdin)["node_id"])')
FLOOD_ARGS=""
if [ "$MODE" = member ]; then
  SEED=$(printf '%064x' 7)
  MEMBER=$($F --id $SEED)
  $B --data-dir $D/data genesis new --name flood --stipend 500 --founder $ID --founder $MEMBER --out $D/genesis.json >/dev/null
  $B --data-dir $D/data --config $D/test.toml init --genesis $D/genesis.json >/dev/null 2>&1 || { echo "init with the two-founder genesis failed"; exit 1; }
  FLOOD_ARGS="--member $SEED"
fi
$B --data-dir $D/data --config $D/test.toml daemon > $D/daemon.log 2>&1 &
PID=$!
# The daemon is up when it logs its mesh address: wait on that line.
timeout 30 tail -n +1 -f $D/daemon.log | grep -q -m1 "mesh listening"
NODE=$(ls $D/data/nodes/)
G=$D/data/nodes/$NODE/data/genesis.json
ADDR="/ip4/127.0.0.1/tcp/$PORT"
st() { $B --data-dir $D/data --config $D/test.toml --json status 2>/dev/null; }
stat_line() {
  local rss=$(ps -o rss= -p $PID | tr -d ' ')
  local cpu=$(awk '{printf "%.2fs", ($14+$15)/100}' /proc/$PID/stat)
  local du=$(du -sk $D/data/nodes/$NODE/economy/ledger | cut -f1)
  local entries=$($B --data-dir $D/data --config $D/test.toml --json ledger verify 2>/dev/null | python3 -c 'import json,sys; s=json.load(sys.stdin); print(s["chains"], "chains", s["entries"], "entries")' 2>/dev/null)
  local pending=$(st | python3 -c 'import json,sys; s=json.load(sys.stdin); print(s["ledger"]["pending"])' 2>/dev/null)
  echo "$1: rss_kib=$rss cpu=$cpu ledger_kib=$du ledger=[$entries] pending=$pending"
}
stat_line "$LABEL before"
$F $ADDR $G 8 $FLOOD_ARGS > $D/flood.out 2>&1 &
FP=$!
LAT=""
for i in 1 2 3 4 5 6; do
  sleep 1
  t0=$(date +%s%N); st >/dev/null; t1=$(date +%s%N)
  LAT="$LAT $(( (t1-t0)/1000000 ))"
done
wait $FP
stat_line "$LABEL after"
echo "$LABEL status latency during flood (ms):$LAT"
cat $D/flood.out
echo "$LABEL warn lines: $(grep -c WARN $D/daemon.log) total lines: $(wc -l < $D/daemon.log)"
kill $PID; wait $PID 2>/dev/null
rm -rf $D
