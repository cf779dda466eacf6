#!/usr/bin/env bash
# End-to-end checks of `vkdream render`: usage errors (exit 2), bad captions, modes and
# checkpoints (exit 1 with a message), and turntable grids whose pixel size is checked from
# the PNG header. The NeRF half needs a checkpoint: set VKDREAM_TEST_CKPT to one (no CLI
# writes checkpoints yet), else it is skipped with a message.
#   usage: cli_render.sh path/to/vkdream
set -u
V=$1
TMP=$(mktemp -d /tmp/vkd_cli_render_XXXXXX)
trap 'rm -rf "$TMP"' EXIT
. "$(dirname "$0")/cli_lib.sh"
expect_size() { # name, file, "W H"
  local got; got=$(png_size "$2")
  if [ "$got" = "$3" ]; then ok "$1"; else bad "$1 (size '$got', wanted '$3')"; fi
}

expect "--help" 0 "usage: vkdream render" "$V" render --help
expect "listed in the main usage" 0 "render CKPT" "$V" --help
expect "unknown flag -> message, exit 2" 2 "unknown option '--frobnicate'" \
  "$V" render --shapeworld "a red cube" --frobnicate
expect "unknown flag -> usage on stderr" 2 "usage: vkdream render" "$V" render --frobnicate
expect "nothing to render -> exit 2" 2 "either CKPT or --shapeworld" "$V" render
expect "both sources -> exit 2" 2 "either CKPT or --shapeworld" "$V" render x.ckpt --shapeworld "a red cube"
expect "flag without value -> exit 2" 2 "needs a value" "$V" render --shapeworld "a red cube" --views
expect "bad --views -> exit 2" 2 "--views: '0'" "$V" render --shapeworld "a red cube" --views 0
expect "bad --res -> exit 2" 2 "--res: '7'" "$V" render --shapeworld "a red cube" --res 7
expect "bad --elevation -> exit 2" 2 "--elevation" "$V" render --shapeworld "a red cube" --elevation 95
expect "unknown mode -> lists the modes" 1 "shaded.*opacity" \
  "$V" render --shapeworld "a red cube" --mode shiny -o "$TMP/x.png"
expect "unknown caption word -> ShapeWorld message" 1 "cube" \
  "$V" render --shapeworld "a plaid cube" -o "$TMP/x.png"
expect "bad --camera -> exit 1" 1 "." "$V" render --shapeworld "a red cube" --camera 1,2 -o "$TMP/x.png"
[ -e "$TMP/x.png" ] && bad "failed runs wrote no file" || ok "failed runs wrote no file"

# 8 views x 6 modes of 64 px with 2 px gaps: 8*64 + 7*2 = 526 wide, 6*64 + 5*2 = 394 high.
expect "shapeworld all modes" 0 "wrote" "$V" render --shapeworld "a red cube" -o "$TMP/all.png"
expect_size "all-mode grid size" "$TMP/all.png" "526 394"
expect "shapeworld one mode" 0 "wrote" \
  "$V" render --shapeworld "a blue torus" --mode depth --views 4 --res 32 -o "$TMP/d.png"
expect_size "one-mode grid size" "$TMP/d.png" "134 32"
expect "shapeworld --camera" 0 "wrote" \
  "$V" render --shapeworld "a green cone" --camera 45,30,2.5 --res 48 -o "$TMP/c.png"
expect_size "--camera: one view per mode" "$TMP/c.png" "48 298"
printf 'not a checkpoint' > "$TMP/junk.safetensors"
expect "missing checkpoint -> loader message" 1 "nope.safetensors" "$V" render "$TMP/nope.safetensors" -o "$TMP/y.png"
expect "corrupt checkpoint -> loader message" 1 "junk.safetensors" "$V" render "$TMP/junk.safetensors" -o "$TMP/y.png"
if [ -n "${VKDREAM_TEST_CKPT:-}" ]; then
  head -c 1000 "$VKDREAM_TEST_CKPT" > "$TMP/trunc.safetensors"
  expect "truncated checkpoint -> clear message" 1 "trunc.safetensors" \
    "$V" render "$TMP/trunc.safetensors" -o "$TMP/y.png"
  expect "checkpoint all modes" 0 "wrote" \
    "$V" render "$VKDREAM_TEST_CKPT" --views 4 --res 32 --device cpu -o "$TMP/n.png"
  expect_size "checkpoint grid size" "$TMP/n.png" "134 202"
else
  echo "skip checkpoint renders: set VKDREAM_TEST_CKPT to a NeRF checkpoint (.safetensors)"
fi
[ -e "$TMP/y.png" ] && bad "failed checkpoint runs wrote no file" || ok "failed checkpoint runs wrote no file"

finish
