#!/usr/bin/env bash
# End-to-end checks of `vkdream sample`: usage errors (exit 2), bad prompts and prior files
# (exit 1 with a message), and grids from the oracle prior written atomically as PNGs.
#   usage: cli_sample.sh path/to/vkdream
set -u
V=$1
SRC=$(cd "$(dirname "$0")/.." && pwd)
TMP=$(mktemp -d /tmp/vkd_cli_sample_XXXXXX)
trap 'rm -rf "$TMP"' EXIT
. "$(dirname "$0")/cli_lib.sh"

expect "--help" 0 "usage: vkdream sample" "$V" sample --help
expect "listed in the main usage" 0 "sample \"PROMPT\"" "$V" --help
expect "unknown flag -> message, exit 2" 2 "unknown option '--frobnicate'" \
  "$V" sample "a red cube" --frobnicate
expect "unknown flag -> usage on stderr" 2 "usage: vkdream sample" "$V" sample "a red cube" --frobnicate
expect "missing prompt -> exit 2" 2 "missing PROMPT" "$V" sample --prior oracle
expect "two prompts -> exit 2" 2 "more than one prompt" "$V" sample "a red cube" "a blue cube"
expect "flag without value -> exit 2" 2 "needs a value" "$V" sample "a red cube" --steps
expect "-n 0 -> exit 2" 2 "-n: '0'" "$V" sample "a red cube" -n 0
expect "bad --steps -> exit 2" 2 "--steps: 'many'" "$V" sample "a red cube" --steps many
expect "bad --sampler -> exit 2" 2 "ddim or ddpm" "$V" sample "a red cube" --sampler euler
expect "bad --eta -> exit 2" 2 "--eta" "$V" sample "a red cube" --eta 1.5
expect "bad --seed -> exit 2" 2 "--seed" "$V" sample "a red cube" --seed -3

if [ -e "$SRC/models/shapeworld.json" ]; then
  echo "skip 'no bundled prior': $SRC/models/shapeworld.json exists"
else
  expect "no bundled prior yet -> says so" 1 "no prior is bundled yet" \
    env VKDREAM_MODELS="$TMP" "$V" sample "a red cube" -o "$TMP/x.png"
  expect "no bundled prior yet -> suggests the oracle" 1 "Use --prior oracle" \
    env VKDREAM_MODELS="$TMP" "$V" sample "a red cube" -o "$TMP/x.png"
fi
expect "empty prompt -> clear error" 1 "empty prompt" "$V" sample "" --prior oracle -o "$TMP/x.png"
long=$(printf 'a%.0s' $(seq 1 2000))
expect "over-long prompt -> clear error" 1 "too long" "$V" sample "$long" --prior oracle -o "$TMP/x.png"
expect "not a ShapeWorld caption -> error" 1 "unknown colour 'plaid'.*known colours: red" \
  "$V" sample "a plaid cube" --prior oracle -o "$TMP/x.png"
expect "not a ShapeWorld caption -> hint" 1 "the oracle knows prompts like \"a red cube\"" \
  "$V" sample "a plaid cube" --prior oracle -o "$TMP/x.png"
expect "missing prior file -> names it" 1 "nope\.json" "$V" sample "a red cube" --prior "$TMP/nope.json"
printf '{"format": "vkdream-prior", ' > "$TMP/bad.json"
expect "corrupt prior file -> names it" 1 "bad\.json: not valid JSON" \
  "$V" sample "a red cube" --prior "$TMP/bad.json" --device cpu
expect "unwritable output -> names it" 1 "$TMP/no/such/dir/g.png" \
  "$V" sample "a red cube" --prior oracle --steps 10 -n 1 -o "$TMP/no/such/dir/g.png"

expect "oracle grid (DDIM)" 0 "wrote $TMP/grid.png: 4 samples of \"a red cube\".*ddim 20 steps, guidance 1" \
  "$V" sample "a red cube" --prior oracle -n 4 --steps 20 -o "$TMP/grid.png"
size=$(png_size "$TMP/grid.png")
if [ "$size" = "258 258" ]; then ok "grid is a 2x2 PNG of 128-pixel tiles ($size)"
else bad "grid PNG size '$size', wanted '258 258'"; fi
left=$(find "$TMP" -name '*.tmp.*' | wc -l)
if [ "$left" -eq 0 ]; then ok "no temporary files left"; else bad "$left temporary files left"; fi
expect "progress lines on stderr (not a terminal)" 0 "sampling  \[#+\]  10/10 step" \
  "$V" sample "a red cube" --prior oracle -n 1 --steps 10 -o "$TMP/one.png"
expect "guided DDPM with a negative prompt, custom layout" 0 \
  "wrote .*3 samples.*ddpm 10 steps, guidance 3, negative \"a blue sphere\"" \
  "$V" sample "a green torus, overhead view" --prior oracle -n 3 --sampler ddpm --steps 10 \
  --guidance 3 --negative "a blue sphere" --cols 3 --zoom 2 --seed 5 -o "$TMP/torus.png"
size=$(png_size "$TMP/torus.png")
if [ "$size" = "196 64" ]; then ok "3 tiles of 64 pixels in one row ($size)"
else bad "torus grid PNG size '$size', wanted '196 64'"; fi
cp "$TMP/grid.png" "$TMP/first.png"
"$V" sample "a red cube" --prior oracle -n 4 --steps 20 -o "$TMP/grid.png" >/dev/null 2>&1
if cmp -s "$TMP/grid.png" "$TMP/first.png"; then ok "the same seed gives the same grid"
else bad "the same seed gave a different grid"; fi

finish
