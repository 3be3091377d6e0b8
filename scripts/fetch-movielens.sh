#!/usr/bin/env bash
# Fetch MovieLens 100K (ml-100k) for the offline demo and the local data checks.
#
# Usage: scripts/fetch-movielens.sh [DEST]
#
# DEST defaults to .personalize-refresh/cache/ml-100k under the repository root (git-ignored).
# MovieLens' licence forbids redistributing the data, so it is never committed: this script
# takes it from RecBole's wheel on PyPI, which ships ml-100k.inter, ml-100k.item and
# ml-100k.user (tab-separated, with RecBole's typed headers such as `user_id:token`). The wheel
# is pinned by hash, so what lands in DEST is byte-for-byte what the converter was written for.
# When the three files are already in DEST it downloads nothing. Set PYTHON to use another
# interpreter than python3 (it needs pip).
set -euo pipefail

readonly SOURCE_FILES=(ml-100k.inter ml-100k.item ml-100k.user)
readonly WHEEL_DIR_IN_ZIP=recbole/dataset_example/ml-100k

usage() {
    echo "usage: $0 [DEST]" >&2
    echo "  DEST defaults to .personalize-refresh/cache/ml-100k under the repository root" >&2
}

if [[ $# -gt 1 ]]; then
    usage
    exit 2
fi
if [[ ${1:-} == -h || ${1:-} == --help ]]; then
    usage
    exit 0
fi

repo_root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
dest="${1:-$repo_root/.personalize-refresh/cache/ml-100k}"
python="${PYTHON:-python3}"

have_all_files() {
    local name
    for name in "${SOURCE_FILES[@]}"; do
        [[ -s "$1/$name" ]] || return 1
    done
}

mkdir -p "$dest"
dest="$(cd "$dest" && pwd)"

if have_all_files "$dest"; then
    echo "ml-100k is already in $dest"
    exit 0
fi

work="$(mktemp -d)"
# The staging folder sits beside DEST so that the final `mv` is a rename on one file system.
staging="$(mktemp -d "$(dirname "$dest")/.ml-100k.partial.XXXXXX")"
trap 'rm -rf -- "$work" "$staging"' EXIT

# RecBole's version and the sha256 of its one wheel on PyPI; change both together.
cat >"$work/requirements.txt" <<'EOF'
recbole==1.2.1 --hash=sha256:9c9948202011f37eb0a7c6768129313f00d6403ad221ec940d5e2d5d5f33a407
EOF

"$python" -m pip download --quiet --disable-pip-version-check --no-deps --only-binary=:all: \
    --require-hashes -r "$work/requirements.txt" -d "$work/wheel"

wheels=("$work"/wheel/recbole-1.2.1-*.whl)
if [[ ${#wheels[@]} -ne 1 || ! -f ${wheels[0]} ]]; then
    echo "$0: pip did not leave exactly one recbole 1.2.1 wheel in $work/wheel" >&2
    exit 1
fi

"$python" - "${wheels[0]}" "$WHEEL_DIR_IN_ZIP" "$staging" "${SOURCE_FILES[@]}" <<'EOF'
import os
import sys
import zipfile

wheel, folder, staging, *names = sys.argv[1:]
with zipfile.ZipFile(wheel) as archive:
    for name in names:
        with open(os.path.join(staging, name), "wb") as out:
            out.write(archive.read(f"{folder}/{name}"))
EOF

# Each rename is atomic, and a run cut short between two of them is completed by the next run,
# because the cache check above asks for all three files.
for name in "${SOURCE_FILES[@]}"; do
    mv -f -- "$staging/$name" "$dest/$name"
done

echo "ml-100k is in $dest"
