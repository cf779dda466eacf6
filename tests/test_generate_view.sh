#!/usr/bin/env bash
# `vkdream generate --view`: the live window of a run (src/dream_view.h), on a short oracle
# run under Xvfb with lavapipe presenting:
#   - without a display --view fails before any work (nothing created) and says what to do;
#     the --view-* flags need --view;
#   - the view must not perturb the optimisation: checkpoints of the same run with and
#     without --view are bit-identical, also when keys are pressed and the window is closed
#     mid-run (the run then continues headless and finishes normally);
#   - S saves the live window's picture into the run directory, and it shows the object;
#   - the final frame (--view-screenshot) matches `vkdream render --camera` of the final
#     checkpoint; the validation layer reports nothing;
#   - Ctrl-C with the window open still saves a checkpoint;
#   - the slowdown: the view's own share of the run (its frames' time, which the budget
#     bounds to ~10%) must stay under 15%; steps/s with and without the view are printed
#     (one short run each on a shared machine: informative, not asserted).
# Exit 77 (skipped) with the reason when Xvfb, xdotool or python3 is missing or no display
# server can be started.
#   usage: test_generate_view.sh path/to/vkdream
set -u
V=${1:?usage: test_generate_view.sh path/to/vkdream}
. "$(dirname "$0")/cli_lib.sh"
. "$(dirname "$0")/xvfb_lib.sh"
export OMP_WAIT_POLICY=PASSIVE
skip() { echo "SKIPPED: $*" >&2; exit 77; }
for tool in Xvfb xdotool python3; do
    command -v "$tool" >/dev/null 2>&1 ||
        skip "$tool is not installed (scripts/install-deps.sh installs xvfb and xdotool)"
done
TMP=$(mktemp -d /tmp/vkd_generate_view_XXXXXX)
XPID=""
GPID=""
cleanup() {
    [ -n "$GPID" ] && kill "$GPID" 2>/dev/null
    [ -n "$XPID" ] && kill "$XPID" 2>/dev/null
    rm -rf "$TMP"
}
trap cleanup EXIT

# png.py A [B]: with one PNG, the share of pixels that differ from the corner pixel (the
# background) by more than 40 in some channel; with two, the mean |difference| (0..255) and
# the share of pixels differing by more than 8. A small decoder: no imaging module needed.
cat >"$TMP/png.py" <<'EOF'
import struct, sys, zlib
def load(path):
    data = open(path, 'rb').read()
    if data[:8] != b'\x89PNG\r\n\x1a\n': sys.exit(path + ': not a PNG')
    pos, idat = 8, b''
    while pos < len(data):
        n, kind = struct.unpack('>I4s', data[pos:pos + 8])
        if kind == b'IHDR': w, h, depth, ctype, _, _, lace = struct.unpack('>IIBBBBB', data[pos + 8:pos + 21])
        elif kind == b'IDAT': idat += data[pos + 8:pos + 8 + n]
        pos += 12 + n
    if depth != 8 or lace or ctype not in (0, 2, 6): sys.exit(path + ': unsupported PNG')
    bpp = {0: 1, 2: 3, 6: 4}[ctype]
    raw, st, prev, px = zlib.decompress(idat), w * bpp, bytearray(w * bpp), []
    for y in range(h):
        f, row = raw[y * (st + 1)], bytearray(raw[y * (st + 1) + 1:(y + 1) * (st + 1)])
        for i in range(st):
            a = row[i - bpp] if i >= bpp else 0
            b, c = prev[i], (prev[i - bpp] if i >= bpp else 0)
            if f == 1: row[i] = (row[i] + a) & 255
            elif f == 2: row[i] = (row[i] + b) & 255
            elif f == 3: row[i] = (row[i] + (a + b) // 2) & 255
            elif f == 4:
                p = a + b - c
                pr = a if abs(p - a) <= abs(p - b) and abs(p - a) <= abs(p - c) else b if abs(p - b) <= abs(p - c) else c
                row[i] = (row[i] + pr) & 255
        prev = row
        px += [tuple(row[x * bpp + min(k, bpp - 1)] for k in range(3)) for x in range(w)]
    return w, h, px
wa, ha, a = load(sys.argv[1])
if len(sys.argv) == 2:
    bg = a[0]
    print('%.4f' % (sum(1 for p in a if max(abs(p[k] - bg[k]) for k in range(3)) > 40) / len(a)))
    sys.exit()
wb, hb, b = load(sys.argv[2])
if (wa, ha) != (wb, hb): sys.exit('size %dx%d vs %dx%d' % (wa, ha, wb, hb))
print('%.3f %.4f' % (sum(abs(p - q) for u, v in zip(a, b) for p, q in zip(u, v)) / (3.0 * len(a)),
                     sum(1 for u, v in zip(a, b) if max(abs(p - q) for p, q in zip(u, v)) > 8) / len(a)))
EOF
# le X LIMIT: X <= LIMIT (numbers).
le() { python3 -c "import sys; sys.exit(not float(sys.argv[1]) <= float(sys.argv[2]))" "$1" "$2"; }
# rate LOG: steps/s from generate's summary line.
rate() { sed -nE 's/^generate: .* steps in [0-9.]+ s \(([0-9.]+) steps\/s\).*/\1/p' "$1"; }

PROMPT="a red cube"
STEPS=80
CAM="40,25,2.3"
RUN=("$V" generate "$PROMPT" --prior oracle --steps "$STEPS")

# ---- no display: a clear message before any work ------------------------------------------
expect "--view-screenshot without --view -> exit 2" 2 "need --view" \
    "${RUN[@]}" -o "$TMP/u" --view-screenshot "$TMP/u.png"
out=$(env -u DISPLAY -u WAYLAND_DISPLAY "${RUN[@]}" -o "$TMP/nodisplay" --view 2>&1); rc=$?
if [ $rc -eq 1 ] && grep -q "no display server" <<<"$out" && grep -q "without --view" <<<"$out"; then
    ok "no display -> exit 1, says so and suggests running without --view"
else
    bad "no display (exit $rc)" "$out"
fi
[ -e "$TMP/nodisplay" ] && bad "no display: the output directory was created (work started)" ||
    ok "no display: nothing created"

# ---- a virtual display ----------------------------------------------------------------------
start_xvfb 640x480x24 "$TMP" || skip "no virtual display (above)"
echo "Xvfb on $DISPLAY"

# The reference: the same run without a window.
"${RUN[@]}" -o "$TMP/ref" >"$TMP/ref.log" 2>&1 || bad "reference run" "$(cat "$TMP/ref.log")"

# ---- the live window, untouched: final frame, identical checkpoint, the view's share ------
"${RUN[@]}" -o "$TMP/live" --view --view-size 96x96 --view-camera "$CAM" \
    --view-screenshot "$TMP/final.png" --view-validate >"$TMP/live.log" 2>&1
rc=$?
[ $rc -eq 0 ] && ok "run with --view finished" || bad "run with --view (exit $rc)" "$(cat "$TMP/live.log")"
grep -qi "validation" "$TMP/live.log" && bad "validation messages" "$(cat "$TMP/live.log")" ||
    ok "no validation messages"
cmp -s "$TMP/ref/checkpoint.safetensors" "$TMP/live/checkpoint.safetensors" &&
    ok "checkpoint with --view is bit-identical to the one without" ||
    bad "checkpoint with --view differs from the run without it"
"$V" render "$TMP/live/checkpoint.safetensors" --camera "$CAM" --res 96 --mode shaded \
    -o "$TMP/final_ref.png" >"$TMP/render.log" 2>&1 || bad "render --camera" "$(cat "$TMP/render.log")"
if r=$(python3 "$TMP/png.py" "$TMP/final.png" "$TMP/final_ref.png" 2>&1) &&
    le "${r% *}" 0.5 && le "${r#* }" 0.002; then
    ok "final frame matches vkdream render --camera of the checkpoint (mean |diff|, share: $r)"
else
    bad "final frame vs vkdream render --camera: $r (allowed 0.5 0.002)"
fi
share=$(sed -nE 's/^view: ([0-9]+) frames in [0-9.]+ s \(([0-9.]+)% of the run\).*/\1 \2/p' "$TMP/live.log")
if [ -n "$share" ] && [ "${share% *}" -ge 2 ] && le "${share#* }" 15; then
    ok "the view showed ${share% *} frames taking ${share#* }% of the run (<= 15%)"
else
    bad "view frames and share '$share' (want >= 2 frames, <= 15%)" "$(grep -E '^view' "$TMP/live.log")"
fi
r0=$(rate "$TMP/ref.log"); r1=$(rate "$TMP/live.log")
echo "     steps/s without --view $r0, with --view $r1 (one run each on a shared machine)"

# ---- keys mid-run: S saves the live picture, Esc closes the window, the run goes on -------
"${RUN[@]}" -o "$TMP/keys" --view --view-size 96x96 --view-camera "$CAM" --view-validate \
    >"$TMP/keys.log" 2>&1 &
GPID=$!
WID=$(timeout 30 xdotool search --sync --pid "$GPID" --name "^vkdream generate - " 2>/dev/null | head -1)
if [ -z "$WID" ]; then
    bad "no live window appeared" "$(cat "$TMP/keys.log")"
else
    ok "live window: $(xdotool getwindowname "$WID")"
    xdotool windowfocus --sync "$WID" 2>/dev/null || xdotool windowfocus "$WID"
    xdotool key 2 s
    for _ in $(seq 200); do [ -s "$TMP/keys/vkdream-view-000.png" ] && break; sleep 0.1; done
    if [ -s "$TMP/keys/vkdream-view-000.png" ]; then
        obj=$(python3 "$TMP/png.py" "$TMP/keys/vkdream-view-000.png")
        le 0.03 "$obj" && ok "S saved the live picture; the object covers $obj of it" ||
            bad "S's picture shows no object (share $obj off the background)"
    else
        bad "S saved no picture into the run directory" "$(cat "$TMP/keys.log")"
    fi
    xdotool getwindowname "$WID" | grep -q " - albedo - " && ok "key 2 switched the live view to albedo" ||
        bad "key 2: title '$(xdotool getwindowname "$WID")'"
    xdotool key Escape
fi
wait "$GPID"; rc=$?; GPID=""
if [ $rc -eq 0 ] && grep -q "the view was closed; the run continues" "$TMP/keys.log" &&
    grep -q "^generate: .* steps in" "$TMP/keys.log"; then
    ok "Esc closed the window and the run finished headless"
else
    bad "close mid-run (exit $rc)" "$(cat "$TMP/keys.log")"
fi
cmp -s "$TMP/ref/checkpoint.safetensors" "$TMP/keys/checkpoint.safetensors" &&
    ok "checkpoint after keys, a screenshot and closing is bit-identical" ||
    bad "checkpoint after keys and closing differs from the run without --view"
grep -qi "validation" "$TMP/keys.log" && bad "validation messages (keys run)" "$(cat "$TMP/keys.log")"

# ---- Ctrl-C with the window open: a checkpoint is saved -----------------------------------
"$V" generate "$PROMPT" --prior oracle --steps 400 -o "$TMP/sig" --view --view-size 64x48 \
    >"$TMP/sig.log" 2>&1 &
GPID=$!
WID=$(timeout 30 xdotool search --sync --pid "$GPID" --name "^vkdream generate - " 2>/dev/null | head -1)
[ -n "$WID" ] || bad "no live window for the Ctrl-C run" "$(cat "$TMP/sig.log")"
kill -INT "$GPID"
wait "$GPID"; rc=$?; GPID=""
if [ $rc -eq 130 ] && grep -q "interrupted at step" "$TMP/sig.log" && [ -s "$TMP/sig/checkpoint.safetensors" ]; then
    ok "Ctrl-C with the window open saved $(grep -o 'interrupted at step [0-9]*' "$TMP/sig.log")"
else
    bad "Ctrl-C with --view (exit $rc)" "$(cat "$TMP/sig.log")"
fi
finish
