#!/usr/bin/env bash
# Compiles scripts/NAME-requirements.in into scripts/NAME-requirements.txt: every package of the
# closure pinned, with the hash of every wheel of that version, so `pip install --require-hashes`
# installs the same files on any platform that has wheels. Run it after changing a pin in a
# .in file; it needs network to PyPI only.
#
#   scripts/compile-requirements.sh infra checkov
#
# pip-tools runs in a throwaway venv so that its own dependencies never meet the pinned ones.
# --only-binary keeps the resolver to wheels, as the install does: no sdist builds in CI.
# The machines' pip config adds a local --find-links, which must not leak into the files.
set -euo pipefail
cd "$(dirname "$0")/.."

PIP_TOOLS=7.7.0
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
python3 -m venv "$work/venv"
"$work/venv/bin/pip" install --quiet --disable-pip-version-check "pip-tools==$PIP_TOOLS"

for name in "$@"; do
    in=scripts/$name-requirements.in
    out=scripts/$name-requirements.txt
    "$work/venv/bin/pip-compile" --quiet --generate-hashes --allow-unsafe \
        --no-emit-index-url --no-emit-find-links --no-header \
        --pip-args '--only-binary :all:' -o "$work/$name.txt" "$in"
    python=$("$work/venv/bin/python" -c 'import platform; print(platform.python_version())')
    {
        echo "# Generated from $in by scripts/compile-requirements.sh"
        echo "# (pip-tools $PIP_TOOLS, CPython $python): the whole closure, each package pinned with the"
        echo "# hashes of all its wheels. Do not edit by hand: change the .in file and run the script."
        echo "#"
        echo "#   python3 -m pip install --require-hashes -r scripts/pip-requirements.txt"
        echo "#   python3 -m pip install --require-hashes -r $out"
        cat "$work/$name.txt"
    } > "$out"
done
