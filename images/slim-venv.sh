#!/bin/sh
# Remove what a container never uses from a venv: headers, test suites, build-only
# packages; then import the given modules so a bad removal fails the build, not a class.
#
# Usage: slim-venv.sh VENV MODULE...
set -eu
venv="$1"
shift
site="$(echo "$venv"/lib/python3*/site-packages)"

echo "venv before slimming: $(du -sm "$site" | cut -f1) MB"

# libclang is listed by tensorflow for its own source generation; nothing imports it.
if [ -d "$site/clang" ]; then
    "$venv/bin/pip" uninstall --yes --quiet libclang
fi
# C/C++ headers only serve to compile extensions against these packages.
rm -rf "$site/tensorflow/include" "$site/numpy/_core/include" "$site/numpy/f2py/src"
# Test suites shipped inside packages (pandas, scipy, numpy, skimage, ...).
find "$site" -depth -type d -name tests -prune -exec rm -rf {} +

echo "venv after slimming: $(du -sm "$site" | cut -f1) MB"

for module in "$@"; do
    "$venv/bin/python" -c "import $module" || { echo "slimming broke 'import $module'" >&2; exit 1; }
done
echo "imports ok: $*"
