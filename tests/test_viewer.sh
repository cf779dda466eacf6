#!/usr/bin/env bash
# The viewer in a real X11 window (Xvfb) presenting through lavapipe's swapchain:
#   - without a display it fails cleanly and points at `vkdream render`; a missing or
#     corrupt checkpoint or mesh gives the loader's message;
#   - headless screenshots (read back from the swapchain image) match `vkdream render
#     --camera` of the same camera: every picture mode of a ShapeWorld object and of a fitted
#     NeRF checkpoint, and a scripted orbit that ends at the start camera;
#   - an exported mesh (.glb) shows the same object as the checkpoint it came from;
#   - injected key and mouse events (xdotool) change the mode and the camera, S saves the
#     window's picture, which matches `vkdream render` of the camera the title reports;
#   - the validation layer reports nothing; resizing the window does not break it.
# The checkpoint is tests/test_nerf_fit.c's red cube, nerf_fit_red_cube.safetensors in the
# working directory (CTest runs the fit first as a fixture) or in DIR.
# Exit 77 (skipped) with the reason when no display server can be started here.
# Usage: test_viewer.sh path/to/vkdream [DIR]  (VKD_VIEW_OUT=DIR keeps the screenshots there)
set -u
BIN=${1:?usage: test_viewer.sh path/to/vkdream [DIR]}
CKPT=${2:-.}/nerf_fit_red_cube.safetensors
fail() { echo "FAIL: $*" >&2; exit 1; }
skip() { echo "SKIPPED: $*" >&2; exit 77; }
. "$(dirname "$0")/xvfb_lib.sh"

for tool in Xvfb xdotool python3; do
    command -v "$tool" >/dev/null 2>&1 ||
        skip "$tool is not installed (scripts/install-deps.sh installs xvfb and xdotool)"
done
TMP=$(mktemp -d)
OUT=${VKD_VIEW_OUT:-$TMP/shots}
mkdir -p "$OUT"
XPID=""
VPID=""
cleanup() {
    [ -n "$VPID" ] && kill "$VPID" 2>/dev/null
    [ -n "$XPID" ] && kill "$XPID" 2>/dev/null
    rm -rf "$TMP"
}
trap cleanup EXIT

# Mean absolute difference of two 8-bit PNGs (0..255 units) and the share of pixels that
# differ by more than 8 in any channel: a tiny decoder, the default python has no imaging.
compare() {
    python3 - "$1" "$2" <<'EOF'
import struct, sys, zlib
def load(path):
    data = open(path, 'rb').read()
    assert data[:8] == b'\x89PNG\r\n\x1a\n', path + ': not a PNG'
    pos, idat, hdr = 8, b'', None
    while pos < len(data):
        n, kind = struct.unpack('>I4s', data[pos:pos + 8])
        body = data[pos + 8:pos + 8 + n]
        if kind == b'IHDR': hdr = struct.unpack('>IIBBBBB', body)
        elif kind == b'IDAT': idat += body
        pos += 12 + n
    w, h, depth, ctype, _, _, interlace = hdr
    assert depth == 8 and interlace == 0 and ctype in (0, 2, 6), path + ': unsupported PNG'
    bpp = {0: 1, 2: 3, 6: 4}[ctype]
    raw, stride, rows, prev = zlib.decompress(idat), w * bpp, [], bytearray(w * bpp)
    for y in range(h):
        f, line = raw[y * (stride + 1)], bytearray(raw[y * (stride + 1) + 1:(y + 1) * (stride + 1)])
        for i in range(stride):
            a = line[i - bpp] if i >= bpp else 0
            b, c = prev[i], prev[i - bpp] if i >= bpp else 0
            if f == 1: line[i] = (line[i] + a) & 255
            elif f == 2: line[i] = (line[i] + b) & 255
            elif f == 3: line[i] = (line[i] + (a + b) // 2) & 255
            elif f == 4:
                p = a + b - c; pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
                line[i] = (line[i] + (a if pa <= pb and pa <= pc else b if pb <= pc else c)) & 255
        rows.append(line); prev = line
    px = [[r[x * bpp + k] if bpp > 1 else r[x] for k in range(3)] for r in rows for x in range(w)]
    return w, h, px
wa, ha, a = load(sys.argv[1]); wb, hb, b = load(sys.argv[2])
if (wa, ha) != (wb, hb): print('size %dx%d vs %dx%d' % (wa, ha, wb, hb)); sys.exit(1)
tot = sum(abs(p - q) for u, v in zip(a, b) for p, q in zip(u, v)) / (3.0 * len(a))
bad = sum(1 for u, v in zip(a, b) if max(abs(p - q) for p, q in zip(u, v)) > 8) / len(a)
print('%.3f %.4f' % (tot, bad))
EOF
}
# close A B MEAN BAD: A and B differ by at most MEAN on average and BAD share of pixels.
close() {
    local r
    r=$(compare "$1" "$2") || fail "compare $1 $2: $r"
    python3 -c "import sys; m, b = map(float, sys.argv[1].split()); sys.exit(not (m <= float(sys.argv[2]) and b <= float(sys.argv[3])))" "$r" "$3" "$4" ||
        fail "$1 vs $2: mean |diff| and share of differing pixels are $r (allowed $3 $4)"
    echo "  $(basename "$1") vs $(basename "$2"): mean |diff| / share differing = $r"
}

# ---- no display: a clear message, no crash -----------------------------------------------
msg=$(env -u DISPLAY -u WAYLAND_DISPLAY "$BIN" view --shapeworld "a red cube" 2>&1)
rc=$?
[ $rc -eq 1 ] || fail "without a display: exit $rc, expected 1 ($msg)"
echo "$msg" | grep -q "vkdream render" || fail "without a display the message does not suggest vkdream render: $msg"
echo "ok no display: $msg" | head -1
[ -f "$CKPT" ] || fail "$CKPT is missing (test_nerf_fit_cpu writes it; run from the build directory)"
# Bad sources: the loader's message, whatever the display.
printf 'not a checkpoint' >"$TMP/junk.safetensors"
printf 'glTF junk' >"$TMP/junk.glb"
for src in "$TMP/nope.safetensors" "$TMP/junk.safetensors" "$TMP/junk.glb"; do
    msg=$("$BIN" view "$src" 2>&1)
    rc=$?
    [ $rc -eq 1 ] || fail "view $src: exit $rc, expected 1 ($msg)"
    echo "$msg" | grep -q "$(basename "$src")" || fail "view $src: message does not name the file: $msg"
    echo "ok bad source: $msg" | head -1
done
msg=$("$BIN" view "$TMP/x.ply" 2>&1) && fail "view x.ply succeeded"
echo "$msg" | grep -q "\.glb" || fail "view x.ply: message does not point at .glb: $msg"

# ---- a virtual display ----------------------------------------------------------------------
start_xvfb 800x600x24 "$TMP" || skip "no virtual display (above)"
echo "ok Xvfb on $DISPLAY"

PROMPT="a red cube"
CAM="40,25,2.3"
# shot NAME ARGS...: headless viewer screenshot (2 frames, validation on) into $OUT/NAME.png.
shot() {
    local name=$1; shift
    "$BIN" view "$@" --frames 2 --screenshot "$OUT/$name.png" --validate >"$TMP/log" 2>&1 ||
        fail "view $*: $(cat "$TMP/log")"
    grep -qi "validation" "$TMP/log" && fail "validation messages in view $*: $(cat "$TMP/log")"
}
# ref NAME ARGS...: `vkdream render ARGS` (one --camera view) into $TMP/NAME.png.
ref() {
    local name=$1; shift
    "$BIN" render "$@" -o "$TMP/$name.png" >"$TMP/rlog" 2>&1 || fail "render $*: $(cat "$TMP/rlog")"
}
# ---- every mode: swapchain read-back vs `vkdream render --camera` -------------------------
for mode in shaded albedo normals textureless depth opacity; do
    shot "view_$mode" --shapeworld "$PROMPT" --size 128x128 --camera "$CAM" --mode "$mode"
    ref "ref_$mode" --shapeworld "$PROMPT" --res 128 --camera "$CAM" --mode "$mode"
    close "$OUT/view_$mode.png" "$TMP/ref_$mode.png" 0.5 0.002
done
# The modes must really differ (a viewer that always showed one picture would pass above).
r=$(compare "$OUT/view_shaded.png" "$OUT/view_normals.png")
python3 -c "import sys; sys.exit(not float(sys.argv[1].split()[0]) > 5)" "$r" ||
    fail "shaded and normals screenshots are nearly the same ($r)"

# ---- scripted orbit: a full turn over the frames ends at the start camera -----------------
"$BIN" view --shapeworld "an orange torus" --size 128x128 --camera "$CAM" --frames 4 --orbit \
    --screenshot "$OUT/view_orbit.png" --validate >"$TMP/log" 2>&1 || fail "orbit: $(cat "$TMP/log")"
ref ref_orbit --shapeworld "an orange torus" --res 128 --camera "$CAM" --mode shaded
close "$OUT/view_orbit.png" "$TMP/ref_orbit.png" 0.5 0.002

# ---- a NeRF checkpoint: the same renderer as `vkdream render` (CPU backend, 2x2 rays) -----
for mode in shaded albedo normals textureless depth opacity; do
    shot "nerf_$mode" "$CKPT" --device cpu --supersample 2 --size 64x64 --camera "$CAM" --mode "$mode"
    ref "nref_$mode" "$CKPT" --device cpu --res 64 --camera "$CAM" --mode "$mode"
    close "$OUT/nerf_$mode.png" "$TMP/nref_$mode.png" 0.5 0.002
done
r=$(compare "$OUT/nerf_shaded.png" "$OUT/nerf_normals.png")
python3 -c "import sys; sys.exit(not float(sys.argv[1].split()[0]) > 5)" "$r" ||
    fail "NeRF shaded and normals screenshots are nearly the same ($r)"

# ---- its exported mesh: the same object (mesh vs field differ at the surface's edges) ------
"$BIN" export "$CKPT" --device cpu --grid 96 -o "$TMP/cube.glb" >"$TMP/log" 2>&1 ||
    fail "export: $(cat "$TMP/log")"
for mode in shaded normals opacity; do
    shot "mesh_$mode" "$TMP/cube.glb" --size 64x64 --camera "$CAM" --mode "$mode"
    close "$OUT/mesh_$mode.png" "$TMP/nref_$mode.png" 6 0.35
done
# ... and not just any picture: the mesh seen from elsewhere differs from the field here.
shot mesh_other "$TMP/cube.glb" --size 64x64 --camera "75,60,1.6" --mode opacity
r=$(compare "$OUT/mesh_other.png" "$TMP/nref_opacity.png")
python3 -c "import sys; sys.exit(not float(sys.argv[1].split()[0]) > 8)" "$r" ||
    fail "mesh opacity from another camera matches the reference too well ($r)"
echo "ok checkpoint and mesh views"

# ---- interactive: injected events ---------------------------------------------------------
"$BIN" view --shapeworld "$PROMPT" --size 160x160 --camera "$CAM" --validate \
    --shot-dir "$TMP" >"$TMP/ilog" 2>&1 &
VPID=$!
WID=$(timeout 20 xdotool search --sync --name "^vkdream view" 2>/dev/null | head -1)
[ -n "$WID" ] || fail "no viewer window appeared: $(cat "$TMP/ilog")"
title() { xdotool getwindowname "$WID"; }
# wait_title REGEX: the title matches within 10 s.
wait_title() {
    for _ in $(seq 100); do
        title | grep -qE "$1" && return 0
        kill -0 "$VPID" 2>/dev/null || fail "viewer exited: $(cat "$TMP/ilog")"
        sleep 0.1
    done
    fail "title never matched '$1': '$(title)'"
}
wait_title " - shaded - 160x160 - .* az 40.0 el 25.0 dist 2.30"
xdotool windowfocus --sync "$WID" 2>/dev/null || xdotool windowfocus "$WID"
xdotool key 3
wait_title " - normals - "
xdotool key 4
wait_title " - textureless - "
# Orbit: drag with the left button from the centre 50 pixels to the right.
eval "$(xdotool getwindowgeometry --shell "$WID")"
cx=$((X + WIDTH / 2)); cy=$((Y + HEIGHT / 2))
xdotool mousemove "$cx" "$cy"; sleep 0.2
xdotool mousedown 1; sleep 0.1
for dx in 10 20 30 40 50; do xdotool mousemove "$((cx + dx))" "$cy"; sleep 0.05; done
xdotool mouseup 1
wait_title " az 20\.0 el 25\.0 "
# Zoom: one wheel step towards the object.
xdotool click 4
wait_title " dist 2\.07"
# Wait for the still, full-resolution frame, then S saves the window's picture.
wait_title " - 160x160 - .* az 20\.0 el 25\.0 dist 2\.07"
xdotool key s
for _ in $(seq 100); do [ -s "$TMP/vkdream-view-000.png" ] && break; sleep 0.1; done
[ -s "$TMP/vkdream-view-000.png" ] || fail "S saved no screenshot: $(cat "$TMP/ilog")"
cp "$TMP/vkdream-view-000.png" "$OUT/view_interactive.png"
cam=$(title | sed -E 's/.* az ([-0-9.]+) el ([-0-9.]+) dist ([0-9.]+).*/\1,\2,\3/')
ref ref_interactive --shapeworld "$PROMPT" --res 160 --camera "$cam" --mode textureless
# The title rounds the camera (0.1 degree, 0.01 unit): allow the edges to move a little.
close "$OUT/view_interactive.png" "$TMP/ref_interactive.png" 1.0 0.02
# R resets the camera; resizing (down to 1 x 1) must not break the swapchain.
xdotool key r
wait_title " az 40\.0 el 25\.0 dist 2\.30"
# L: the mouse moves the light, not the camera.
xdotool key l
wait_title "\[L\] light"
xdotool mousemove "$cx" "$cy" mousedown 1 mousemove "$((cx + 30))" "$((cy + 20))" mouseup 1
sleep 0.5
title | grep -q " az 40\.0 el 25\.0 dist 2\.30" || fail "dragging in light mode moved the camera: $(title)"
xdotool key l
# - halves the render resolution, + restores it.
xdotool key minus
wait_title " - 80x80 - "
xdotool key plus
wait_title " - 160x160 - "
xdotool windowsize "$WID" 1 1; sleep 0.5
xdotool windowsize "$WID" 240 180
wait_title " - 240x180 - "
kill -0 "$VPID" 2>/dev/null || fail "viewer died on resize: $(cat "$TMP/ilog")"
xdotool key Escape
for _ in $(seq 100); do kill -0 "$VPID" 2>/dev/null || break; sleep 0.1; done
kill -0 "$VPID" 2>/dev/null && fail "Esc did not quit the viewer"
wait "$VPID"
rc=$?
VPID=""
[ $rc -eq 0 ] || fail "interactive viewer exited $rc: $(cat "$TMP/ilog")"
grep -qi "validation" "$TMP/ilog" && fail "validation messages: $(cat "$TMP/ilog")"
echo "ok interactive: keys, orbit, zoom, screenshot, reset, resize, Esc; no validation messages"

# ---- interactive on a checkpoint: a key changes the NeRF's picture, Esc quits -------------
"$BIN" view "$CKPT" --device cpu --size 96x96 --camera "$CAM" --validate >"$TMP/ilog" 2>&1 &
VPID=$!
WID=$(timeout 30 xdotool search --sync --pid "$VPID" --name "^vkdream view" 2>/dev/null | head -1)
[ -n "$WID" ] || fail "no viewer window for the checkpoint: $(cat "$TMP/ilog")"
wait_title " - shaded - 96x96 - "
xdotool windowfocus --sync "$WID" 2>/dev/null || xdotool windowfocus "$WID"
xdotool key 5
wait_title " - depth - 96x96 - "
xdotool key Escape
for _ in $(seq 100); do kill -0 "$VPID" 2>/dev/null || break; sleep 0.1; done
wait "$VPID"; rc=$?; VPID=""
[ $rc -eq 0 ] || fail "checkpoint viewer exited $rc: $(cat "$TMP/ilog")"
grep -qi "validation" "$TMP/ilog" && fail "validation messages: $(cat "$TMP/ilog")"
echo "ok interactive checkpoint: key 5 switched to depth; the title shows mode and resolution"

# ---- minimise (needs a window manager: twm when installed) --------------------------------
if command -v twm >/dev/null 2>&1; then
    printf 'RandomPlacement\nNoTitle\n' >"$TMP/twmrc"
    twm -f "$TMP/twmrc" >"$TMP/twm.log" 2>&1 &
    WMPID=$!
    sleep 0.5
    "$BIN" view --shapeworld "$PROMPT" --size 160x160 --validate >"$TMP/mlog" 2>&1 &
    VPID=$!
    WID=$(timeout 20 xdotool search --sync --pid "$VPID" --name "^vkdream view" 2>/dev/null | head -1)
    [ -n "$WID" ] || fail "no viewer window under twm: $(cat "$TMP/mlog")"
    wait_title " - shaded - 160x160 - "
    xdotool windowminimize --sync "$WID" || fail "twm did not minimise the window"
    # A key while minimised: no frame can be shown, and the viewer must neither crash nor spin.
    xdotool key --window "$WID" 2; sleep 0.5
    kill -0 "$VPID" 2>/dev/null || fail "viewer died while minimised: $(cat "$TMP/mlog")"
    xdotool windowmap --sync "$WID"
    wait_title " - albedo - 160x160 - "
    xdotool key --window "$WID" Escape
    for _ in $(seq 100); do kill -0 "$VPID" 2>/dev/null || break; sleep 0.1; done
    wait "$VPID"; rc=$?; VPID=""
    kill "$WMPID" 2>/dev/null
    [ $rc -eq 0 ] || fail "viewer exited $rc after minimise: $(cat "$TMP/mlog")"
    grep -qi "validation" "$TMP/mlog" && fail "validation messages: $(cat "$TMP/mlog")"
    echo "ok minimise and restore"
else
    echo "minimise: skipped (no window manager: install twm to test it)"
fi
echo "PASS (screenshots in $OUT)"
