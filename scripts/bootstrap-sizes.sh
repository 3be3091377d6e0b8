#!/usr/bin/env bash
# Prints the size of each Lambda function's bootstrap, as `make lambdas` built it: the binary
# that sam zips into the deployment package. Lambda's quota is 250 MB unzipped per function
# (50 MB zipped for a direct upload), and a larger package starts colder.
#
#   scripts/bootstrap-sizes.sh target/lambda start-import poll-status ...
set -euo pipefail

dir=$1
shift
printf '%-18s %12s %9s\n' function bytes MiB
for function in "$@"; do
    bootstrap=$dir/$function/bootstrap
    if [[ ! -f $bootstrap ]]; then
        echo "no $bootstrap: run make lambdas first" >&2
        exit 1
    fi
    bytes=$(stat -c %s "$bootstrap")
    awk -v f="$function" -v b="$bytes" 'BEGIN { printf "%-18s %12d %9.2f\n", f, b, b / 1048576 }'
done
