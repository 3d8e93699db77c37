#!/usr/bin/env bash
# Rebuild page.html, the HTML template of `dvc plots show` (.dvc/config: [plots] html_template) with vega, vega-lite
# and vega-embed inlined from their npm packages, so the plots render with no network (DVC's default page loads
# them from a CDN). Run from anywhere with npm on the PATH; change the versions here and in LICENSE together.
set -euo pipefail
VEGA=5.33.1 VEGA_LITE=5.23.0 VEGA_EMBED=6.29.0
here="$(cd "$(dirname "$0")" && pwd)"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
cd "$work"
npm pack --silent "vega@$VEGA" "vega-lite@$VEGA_LITE" "vega-embed@$VEGA_EMBED" >/dev/null
for pkg in "vega-$VEGA" "vega-lite-$VEGA_LITE" "vega-embed-$VEGA_EMBED"; do
    mkdir "$pkg" && tar xzf "$pkg.tgz" -C "$pkg"
done
script() {  # one bundle as an inline <script>, without its source-map comment (the map is not shipped)
    if grep -qi -e '</script' -e '<!--' -e '{plot_divs}' -e '{scripts}' -e '{refresh_tag}' "$1"; then
        echo "build.sh: $1 cannot be inlined as is" >&2
        exit 1
    fi
    printf '<script>\n'
    grep -v '^//# sourceMappingURL=' "$1"
    printf '</script>\n'
}
{
    cat <<HEAD
<!DOCTYPE html>
<html>
<head>
    {refresh_tag}
    <meta charset="utf-8">
    <title>DVC Plot</title>
    <!-- vega $VEGA, vega-lite $VEGA_LITE, vega-embed $VEGA_EMBED (npm, BSD-3-Clause: LICENSE beside the template
         .dvc/plots/offline/page.html), inlined so that this page needs no network. Rebuilt by build.sh there. -->
HEAD
    script "vega-$VEGA/package/build/vega.min.js"
    script "vega-lite-$VEGA_LITE/package/build/vega-lite.min.js"
    script "vega-embed-$VEGA_EMBED/package/build/vega-embed.min.js"
    cat <<'TAIL'
    <style>
        table {
            border-spacing: 15px;
        }
    </style>
</head>
<body>
    {plot_divs}
</body>
</html>
TAIL
} > "$here/page.html"
echo "wrote $here/page.html ($(wc -c < "$here/page.html") bytes)"
