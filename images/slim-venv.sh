#!/bin/sh
# Remove what a container never uses from a venv: headers, test suites, symbol tables,
# build-only packages and a slow import nothing needs; then import the given modules so a
# bad removal fails the build, not a class.
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
# Symbol tables serve only debuggers and profilers of C code; TensorFlow's libraries
# carry 240 MB of them. Only TensorFlow's are stripped (needs binutils): the other
# wheels' libraries were rewritten by auditwheel (patchelf), and strip breaks those
# ("ELF load command address/offset not page-aligned").
if [ -d "$site/tensorflow" ] && command -v strip >/dev/null 2>&1; then
    find "$site/tensorflow" -type f -name '*.so*' | while read -r lib; do
        if readelf -S "$lib" 2>/dev/null | grep -q '\.symtab'; then
            strip --strip-unneeded "$lib"
        fi
    done
fi
# rfc3987-syntax builds a Lark (Earley) parser of its grammar when it is imported, and
# jsonschema imports it in every process that loads Jupyter's event schemas (a pair's
# server, the hub): 1.3 CPU-seconds per start, for an "iri" format check nothing here
# asks for. jsonschema checks that format only if the module imports (issue 18).
if [ -d "$site/rfc3987_syntax" ]; then
    "$venv/bin/pip" uninstall --yes --quiet rfc3987-syntax lark
fi
# With NO_PIP=1, pip leaves the venv: nothing installs anything in a running container,
# and the build stages run pip from Debian's wheel of it (python3-venv puts it in
# /usr/share/python-wheels; `python3 pip-*.whl/pip ...`).
if [ "${NO_PIP:-0}" = 1 ]; then
    rm -rf "$site/pip" "$site"/pip-*.dist-info "$venv"/bin/pip "$venv"/bin/pip3*
fi
# C/C++ headers only serve to compile extensions against these packages.
rm -rf "$site/tensorflow/include" "$site/numpy/_core/include" "$site/numpy/f2py/src"
# Test suites shipped inside packages (numpy, matplotlib, ...).
find "$site" -depth -type d -name tests -prune -exec rm -rf {} +

echo "venv after slimming: $(du -sm "$site" | cut -f1) MB"

for module in "$@"; do
    "$venv/bin/python" -c "import $module" || { echo "slimming broke 'import $module'" >&2; exit 1; }
done
echo "imports ok: $*"
