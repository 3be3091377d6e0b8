#!/usr/bin/env bash
# The offline demo: the local endpoint, run as its own process at 300 times real time, and the
# pipeline's four steps (the real handlers, through `personalize-refresh step`) run on
# MovieLens by scripts/demo_steps.py, which plays the state machine's part: a first run with
# FULL imports, a FULL training and a campaign; a week of new data exported in milliseconds and
# refused before any import; the same week in seconds imported INCREMENTALly, an UPDATE training
# and the campaign updated past the quality gate; then the same run again, resuming. Run
# through `make demo`, which builds and fetches first.
set -euo pipefail
cd "$(dirname "$0")/.."

demo=.personalize-refresh/demo
rm -rf "$demo"
mkdir -p "$demo"

target/debug/personalize-refresh emulator --bind 127.0.0.1:0 --speed 300 \
    --state-dir "$demo/state" --s3-root "$demo/s3" >"$demo/emulator.out" 2>"$demo/emulator.log" &
emulator=$!
trap 'kill -TERM "$emulator" 2>/dev/null || true; wait "$emulator" 2>/dev/null || true' EXIT

for _ in $(seq 100); do
    [[ -s "$demo/emulator.out" ]] && break
    sleep 0.1
done
url=$(sed -n 's/^listening on //p' "$demo/emulator.out")
[[ -n "$url" ]] || { cat "$demo/emulator.log" >&2; exit 1; }
echo "local endpoint on $url, simulated time at 300x (log: $demo/emulator.log)"

.venv/bin/python scripts/demo_steps.py --endpoint "$url" --speed 300 \
    --data .personalize-refresh/data/movielens

echo
echo "the endpoint's S3 is a folder; the uploaded objects:"
find "$demo/s3" -name '*.csv' -printf '  %p (%s bytes)\n' | sort
