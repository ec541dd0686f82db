#!/usr/bin/env bash
# Put MathJax 3 into book/_static/mathjax/ so the built book renders formulas offline, loading
# nothing from another host (_config.yml points Sphinx's mathjax_path there). It comes from the
# npm registry (npm verifies the package's integrity); only the TeX-to-HTML bundle and the
# components it loads on demand are kept (about 10 MB). Idempotent: does nothing once present.
set -euo pipefail
cd "$(dirname "$0")/.."
VERSION=3.2.2
TARGET=book/_static/mathjax
if [ -f "$TARGET/tex-chtml.js" ] && [ "$(cat "$TARGET/VERSION" 2>/dev/null)" = "$VERSION" ]; then
  exit 0
fi
command -v npm >/dev/null || { echo "fetch_mathjax: npm is needed (Debian: apt-get install npm)" >&2; exit 1; }
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
(cd "$work" && npm pack --silent "mathjax@$VERSION" >/dev/null && tar -xzf "mathjax-$VERSION.tgz")
rm -rf "$TARGET" && mkdir -p "$TARGET"
for part in tex-chtml.js a11y adaptors input output sre ui; do
  cp -r "$work/package/es5/$part" "$TARGET/"
done
cp "$work/package/LICENSE" "$TARGET/LICENSE"
echo "$VERSION" > "$TARGET/VERSION"
echo "fetch_mathjax: MathJax $VERSION in $TARGET"
