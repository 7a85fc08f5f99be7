#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# perf/record.sh - where a gvbench scenario spends its time: perf record
# with call graphs, the top symbols as text, and a flame graph.
set -euo pipefail

usage() {
	cat <<'EOF'
usage: perf/record.sh [--dwarf] [--freq HZ] SCENARIO

SCENARIO is a name from the table in perf/hyperfine.sh (perf/hyperfine.sh
--list shows them) or a quoted gvbench command line, e.g.
  perf/record.sh sim-pushpull-50
  perf/record.sh 'gvbench sim --nodes 150 --updates 20 --mode eager'

  --dwarf     unwind with DWARF (--call-graph dwarf) instead of frame
              pointers (-g): the release build omits frame pointers, so
              -g shows user-space stacks as [unknown] below the kernel;
              dwarf costs larger perf.data files
  --freq HZ   sampling frequency (default 999)

Writes, under results/perf/: NAME.perf.data, NAME.out (gvbench's own
output), NAME.report.txt (perf report --stdio --no-children, call chains),
NAME.top.txt (flat top symbols, also printed) and a flame graph, by the
first of these that is available:
  1. Brendan Gregg's FlameGraph scripts (stackcollapse-perf.pl and
     flamegraph.pl on PATH or in $FLAMEGRAPH_DIR)      -> NAME.svg
  2. perf script's flamegraph report with the d3 template
     (/usr/share/d3-flame-graph/d3-flamegraph-base.html) -> NAME.html
  3. perf's stackcollapse.py and the small SVG renderer in this script
     (python3; no zoom or search)                       -> NAME.svg
The folded stacks (NAME.folded) are kept with 1 and 3: speedscope and
inferno read them too. gvbench is built with the release preset when
missing (GVBENCH=path overrides).
EOF
}

me=perf/record.sh
# shellcheck source=perf/lib.sh
. "$(dirname "$0")/lib.sh"

cd "$(dirname "$0")/.."
callgraph=(-g) freq=999 scenario=
while [ $# -gt 0 ]; do
	case "$1" in
	-h | --help) usage; exit 0 ;;
	--dwarf) callgraph=(--call-graph dwarf); shift ;;
	--freq) freq=${2:?--freq needs a value}; shift 2 ;;
	-*) echo "perf/record.sh: unknown option '$1' (see --help)" >&2; exit 2 ;;
	*) [ -z "$scenario" ] || { echo "perf/record.sh: one SCENARIO only (quote a command line)" >&2; exit 2; }
	   scenario=$1; shift ;;
	esac
done
[ -n "$scenario" ] || { usage >&2; exit 2; }

command -v perf >/dev/null || die "perf not found (apt-get install linux-perf)"
gvbench_bin
resolve_scenario "$scenario"

out=results/perf
mkdir -p "$out"
data=$out/$name.perf.data
echo "recording: $bin $cmd"
perf record "${callgraph[@]}" -F "$freq" -o "$data" -- "$bin" "${argv[@]}" \
	>"$out/$name.out" || die "perf record failed (perf_event_paranoid is $(cat /proc/sys/kernel/perf_event_paranoid 2>/dev/null || echo ?); root or <= 1 needed for kernel stacks)"
perf report -i "$data" --stdio --no-children >"$out/$name.report.txt" 2>/dev/null
perf report -i "$data" --stdio --no-children -g none --percent-limit 0.5 \
	--sort dso,symbol 2>/dev/null | grep -v '^#' | grep -v '^$' |
	sed 's/ *- *- *$//' | head -40 >"$out/$name.top.txt"
echo "top symbols (self time; full call chains in $out/$name.report.txt):"
cat "$out/$name.top.txt"

fg_dir=${FLAMEGRAPH_DIR:-}
find_fg() { # $1: script name; prints its path
	if [ -n "$fg_dir" ] && [ -x "$fg_dir/$1" ]; then
		echo "$fg_dir/$1"
	else
		command -v "$1" || true
	fi
}
collapse=$(find_fg stackcollapse-perf.pl)
flame=$(find_fg flamegraph.pl)
d3=/usr/share/d3-flame-graph/d3-flamegraph-base.html
pyscripts=$(perf --exec-path 2>/dev/null)/scripts/python

if [ -n "$collapse" ] && [ -n "$flame" ]; then
	perf script -i "$data" 2>/dev/null | "$collapse" >"$out/$name.folded"
	"$flame" --title "gvbench $cmd" "$out/$name.folded" >"$out/$name.svg"
	echo "flame graph: $out/$name.svg (FlameGraph scripts: $collapse, $flame)"
elif [ -f "$d3" ] && [ -f "$pyscripts/flamegraph.py" ]; then
	perf script -i "$data" -s "$pyscripts/flamegraph.py" -- \
		-o "$out/$name.html" >/dev/null 2>&1
	echo "flame graph: $out/$name.html (perf script flamegraph.py with $d3)"
elif [ -f "$pyscripts/stackcollapse.py" ] && command -v python3 >/dev/null; then
	perf script -i "$data" -s "$pyscripts/stackcollapse.py" -- --kernel \
		>"$out/$name.folded" 2>/dev/null
	python3 - "$out/$name.folded" "$out/$name.svg" "gvbench $cmd" <<'PY'
# A minimal flame graph: folded stacks ("a;b;c count") to an SVG of nested
# rectangles, callers below callees, width proportional to samples, kernel
# frames (suffix _[k]) in blue. Hover shows the frame and its share (the
# <title>); no zoom, no search.
import html, sys, zlib

folded, svg, title = sys.argv[1:4]
root = {"n": "all", "v": 0, "c": {}}
for line in open(folded, encoding="utf-8", errors="replace"):
    stack, _, count = line.rstrip("\n").rpartition(" ")
    if not stack or not count.isdigit():
        continue
    v = int(count)
    node = root
    node["v"] += v
    for frame in stack.split(";"):
        node = node["c"].setdefault(frame, {"n": frame, "v": 0, "c": {}})
        node["v"] += v
total = root["v"] or 1
W, H, PAD, TOP = 1200, 16, 10, 40
rows, out = [], []

def place(node, x, depth):
    rows.append((node, x, depth))
    for child in sorted(node["c"].values(), key=lambda c: c["n"]):
        place(child, x, depth + 1)
        x += child["v"]

place(root, 0, 0)
depth = max(d for _, _, d in rows) + 1
height = TOP + depth * H + PAD
scale = (W - 2 * PAD) / total
out.append(f'<svg xmlns="http://www.w3.org/2000/svg" width="{W}" '
           f'height="{height}" font-family="monospace" font-size="11">')
out.append(f'<rect width="100%" height="100%" fill="#f8f8f8"/>')
out.append(f'<text x="{W / 2}" y="20" text-anchor="middle" font-size="15">'
           f'{html.escape(title)} ({total} samples)</text>')
for node, x, d in rows:
    w = node["v"] * scale
    if w < 1.0:
        continue
    px, py = PAD + x * scale, height - PAD - (d + 1) * H
    h = zlib.crc32(node["n"].encode()) & 0xffff
    kernel = node["n"].endswith("_[k]")  # stackcollapse.py --kernel
    fill = (f"rgb({200 + h % 55},{80 + h % 110},{40 + (h >> 8) % 50})"
            if not kernel else f"rgb({60 + h % 60},{150 + h % 80},{200})")
    name = html.escape(node["n"][:-4] if kernel else node["n"])
    pct = 100.0 * node["v"] / total
    out.append(f'<g><title>{name} ({node["v"]} samples, {pct:.2f}%)</title>'
               f'<rect x="{px:.1f}" y="{py}" width="{w:.1f}" '
               f'height="{H - 1}" fill="{fill}" rx="2"/>')
    chars = int((w - 6) / 7)
    if chars >= 3:
        label = html.unescape(name)
        if len(label) > chars:
            label = label[:chars - 2] + ".."
        out.append(f'<text x="{px + 3:.1f}" y="{py + H - 4}">'
                   f'{html.escape(label)}</text>')
    out.append("</g>")
out.append("</svg>")
open(svg, "w", encoding="utf-8").write("\n".join(out) + "\n")
PY
	echo "flame graph: $out/$name.svg (perf's stackcollapse.py + this script's minimal SVG renderer; for zoom and search install the FlameGraph scripts and set FLAMEGRAPH_DIR)"
else
	echo "flame graph: skipped (no FlameGraph scripts, no d3 template, no perf stackcollapse.py + python3)"
fi
