#!/usr/bin/env bash
# The offline demo: the local endpoint, run as its own process at 300 times real time, and a
# boto3 client importing MovieLens through it (S3 upload, dataset group, schemas, datasets,
# FULL imports polled to ACTIVE, then a newer week imported INCREMENTALly, once exported in
# milliseconds and refused, once right), then training a solution version for real (about two
# simulated hours, its offline metrics printed) and deploying it to a campaign. Run through
# `make demo`, which builds and fetches first.
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

.venv/bin/python tests/python/import_movielens.py --endpoint "$url" \
    --data .personalize-refresh/data/movielens --slices --train

echo
echo "the endpoint's S3 is a folder; the uploaded objects:"
find "$demo/s3" -name '*.csv' -printf '  %p (%s bytes)\n' | sort
