#!/usr/bin/env bash
# End-to-end checks of `vkdream judge` and `vkdream sample --judge`: usage errors (exit 2),
# unreadable or malformed inputs (exit 1 with a message), verdicts on oracle samples and on
# ground-truth turntables, the JSON outputs. Each command builds the judge's bank (~1-2 s),
# so images are judged several to a command.
#   usage: cli_judge.sh path/to/vkdream
set -u
V=$1
TMP=$(mktemp -d /tmp/vkd_cli_judge_XXXXXX)
trap 'rm -rf "$TMP"' EXIT
. "$(dirname "$0")/cli_lib.sh"

expect "--help" 0 "usage: vkdream judge" "$V" judge --help
expect "listed in the main usage" 0 "judge \[--json\] IMAGE" "$V" --help
expect "no image -> exit 2" 2 "no IMAGE given" "$V" judge
expect "unknown flag -> exit 2" 2 "unknown option '--frobnicate'" "$V" judge --frobnicate x.png
expect "bad --tile -> exit 2" 2 "--tile: 'big'" "$V" judge --tile big x.png
expect "--tile without value -> exit 2" 2 "needs a value" "$V" judge x.png --tile
expect "missing file -> names it" 1 "nope\.png" "$V" judge "$TMP/nope.png"
printf 'not a png' > "$TMP/junk.png"
expect "not a PNG -> names it" 1 "junk\.png" "$V" judge "$TMP/junk.png"
expect "--judge needs a ShapeWorld prompt" 1 "unknown colour 'plaid'" \
  "$V" sample "a plaid cube" --prior oracle --judge -o "$TMP/x.png"

# The oracle's samples are ShapeWorld training renders: every shape right. Its default
# shading mixes in textureless (grey) renders as SDS does, whose colour is undefined: the
# judge must call those grey and every other one red.
out=$("$V" sample "a red cube" --prior oracle -n 8 --judge -o "$TMP/red.png" 2>/dev/null); rc=$?
last=$(tail -n 1 <<<"$out")
if [ "$rc" -eq 0 ] && grep -Eq '^\{"prompt":"a red cube","n":8,"shape_correct":8,"colour_correct":[0-9],"grey":[0-9],"empty":0\}$' <<<"$last"; then
  c=$(sed -E 's/.*"colour_correct":([0-9]+).*/\1/' <<<"$last"); g=$(sed -E 's/.*"grey":([0-9]+).*/\1/' <<<"$last")
  if [ $((c + g)) -eq 8 ]; then ok "oracle red cubes: 8/8 shapes, $c red + $g grey (textureless)"
  else bad "oracle red cubes: colour_correct $c + grey $g != 8" "$out"; fi
else bad "sample --judge summary line (exit $rc)" "$out"; fi
n=$(grep -c '^sample [0-9]: \(red\|grey\) cube' <<<"$out")
if [ "$n" -eq 8 ]; then ok "a verdict line per sample"; else bad "$n verdict lines, wanted 8" "$out"; fi

# An oracle that renders every view lit (a prior file): 8/8 shapes and 8/8 colours.
cat > "$TMP/lit.json" <<'JSON'
{"format": "vkdream-prior", "version": 1, "type": "oracle", "name": "oracle-lit",
 "image": {"channels": 3, "height": 32, "width": 32, "range": [-1, 1], "encoding": "linear"},
 "schedule": {"beta_schedule": "cosine", "T": 1000},
 "camera": "shapeworld", "view_suffix": "dreamfusion",
 "oracle": {"shading": "lit"}}
JSON
for prompt in "a red cube" "an orange cone"; do
  expect "lit oracle, \"$prompt\": 8/8 and 8/8" 0 \
    "\{\"prompt\":\"$prompt\",\"n\":8,\"shape_correct\":8,\"colour_correct\":8,\"grey\":0,\"empty\":0\}$" \
    "$V" sample "$prompt" --prior "$TMP/lit.json" -n 8 --judge -o "$TMP/lit.png"
done

# The PNG grid of the samples judged again from the file (sRGB round trip, zoomed tiles),
# and a 3-sample grid of 2 columns, whose one blank (white) cell is skipped, not judged.
"$V" sample "a green torus" --prior "$TMP/lit.json" -n 3 --cols 2 -o "$TMP/three.png" >/dev/null 2>&1
out=$("$V" judge --tile 128 "$TMP/red.png" "$TMP/three.png" 2>&1); rc=$?
n=$(grep -c 'red\.png\[[0-7]\]: \(red\|grey\) cube' <<<"$out")
if [ "$rc" -eq 0 ] && [ "$n" -eq 8 ]; then ok "judge --tile: all 8 tiles of the sample grid are cubes"
else bad "judge --tile on the sample grid: $n of 8 tiles red/grey cube (exit $rc)" "$out"; fi
n=$(grep -c 'three\.png\[[0-2]\]: green torus' <<<"$out"); t=$(grep -c 'three\.png' <<<"$out")
if [ "$n" -eq 3 ] && [ "$t" -eq 3 ]; then ok "blank grid cell skipped"; else bad "three-sample grid: $n torus lines of $t" "$out"; fi
expect "wrong --tile for the grid -> says so" 1 "not a grid of 100-pixel tiles" \
  "$V" judge --tile 100 "$TMP/red.png"

# Ground-truth turntables (64-pixel tiles of `vkdream render`), one judge command.
files=()
for obj in "a yellow sphere" "a cyan cylinder" "a pink torus" "a red cube"; do
  f="$TMP/tt_${obj##* }.png"
  "$V" render --shapeworld "$obj" --mode shaded -o "$f" >/dev/null 2>&1
  files+=("$f")
done
out=$("$V" judge --tile 64 "${files[@]}" 2>&1)
for obj in "yellow sphere" "cyan cylinder" "pink torus" "red cube"; do
  n=$(grep -c "tt_${obj##* }\.png\[[0-7]\]: $obj " <<<"$out")
  if [ "$n" -eq 8 ]; then ok "turntable of a $obj: 8/8"; else bad "turntable of a $obj: $n/8" "$out"; fi
done

# JSON output, and an empty image (an object too far away to see).
"$V" render --shapeworld "a blue cube" --mode albedo --views 1 -o "$TMP/one.png" >/dev/null 2>&1
"$V" render --shapeworld "a blue cube" --mode albedo --views 1 --camera 0,20,40 -o "$TMP/far.png" >/dev/null 2>&1
json=$("$V" judge --json "$TMP/one.png" "$TMP/far.png" 2>&1); rc=$?
if [ "$rc" -eq 0 ] && grep -Eq '"shape":[[:space:]]*"cube"' <<<"$json" && grep -Eq '"colour":[[:space:]]*"blue"' <<<"$json"
then ok "--json verdict: a blue cube"; else bad "--json verdict (exit $rc)" "$json"; fi
if command -v python3 >/dev/null; then
  if python3 -c 'import json,sys; d=json.load(sys.stdin); assert len(d)==2 and d[0]["shape"]=="cube" and d[1]["empty"]' <<<"$json"
  then ok "--json is a valid JSON array, one verdict per image, the far one empty"
  else bad "--json output is not the expected JSON array" "$json"; fi
fi

finish
