#!/usr/bin/env bash
# End-to-end checks of `vkdream generate` with the oracle prior: usage errors (exit 2), bad
# input refused before any work (empty prompt, unknown word, unwritable DIR, another
# prompt's DIR, missing bundled prior), the outputs of a short run (turntable.png a valid
# PNG of the expected size), SIGINT leaving a checkpoint that `vkdream render` loads, and
# --resume finishing the interrupted run.
#   usage: cli_generate.sh path/to/vkdream
set -u
V=$1
TMP=$(mktemp -d /tmp/vkd_cli_generate_XXXXXX)
trap 'rm -rf "$TMP"' EXIT
. "$(dirname "$0")/cli_lib.sh"
export OMP_WAIT_POLICY=PASSIVE

expect "--help" 0 "usage: vkdream generate" "$V" generate --help
expect "listed in the main usage" 0 "generate \"PROMPT\"" "$V" --help
expect "no prompt -> exit 2" 2 "give a prompt" "$V" generate
expect "unknown flag -> exit 2" 2 "unknown option '--frobnicate'" "$V" generate "a red cube" --frobnicate
expect "bad --steps -> exit 2" 2 "--steps: '0'" "$V" generate "a red cube" --steps 0
expect "bad --weighting -> exit 2" 2 "--weighting" "$V" generate "a red cube" --weighting cubic
expect "bad --reg-ramp -> exit 2" 2 "--reg-ramp: '2'" "$V" generate "a red cube" --reg-ramp 2
expect "--resume with run flags -> exit 2" 2 "give only --device" "$V" generate --resume "$TMP/x" --steps 5
expect "empty prompt -> exit 1" 1 "prompt is empty" "$V" generate "  " --prior oracle -o "$TMP/e"
expect "unknown word -> known words" 1 "known colours: red.*known shapes: sphere" \
  "$V" generate "a plaid cube" --prior oracle -o "$TMP/u"
[ -e "$TMP/u" ] && bad "unknown word: DIR created (work started)" || ok "unknown word: nothing created"
expect "missing prior file -> exit 1" 1 "nope.json" \
  "$V" generate "a red cube" --prior "$TMP/nope.json" -o "$TMP/m"
printf '{"format": "vkdream-prior"' > "$TMP/corrupt.json"
expect "corrupt prior file -> exit 1" 1 "corrupt.json" \
  "$V" generate "a red cube" --prior "$TMP/corrupt.json" -o "$TMP/m"
out=$(VKDREAM_MODELS="$TMP/none" "$V" generate "a red cube" -o "$TMP/b" 2>&1); rc=$?
if grep -q "no prior is bundled" <<<"$out"; then
  [ $rc -eq 1 ] && grep -q -- "--prior oracle" <<<"$out" && ok "no bundled prior -> suggests --prior oracle" \
    || bad "no bundled prior (exit $rc)" "$out"
else
  echo "skip no-bundled-prior check: a bundled prior exists"
fi
touch "$TMP/afile"
expect "unwritable DIR -> exit 1" 1 "cannot create directory" \
  "$V" generate "a red cube" --prior oracle -o "$TMP/afile/sub"

# A short run: every output.
D=$TMP/run
expect "short run" 0 "score: IoU" "$V" generate "a red cube" --prior oracle --steps 80 -o "$D"
for f in checkpoint.safetensors turntable.png preview.png mesh.glb config.json log.jsonl metrics.json; do
  [ -s "$D/$f" ] && ok "output $f" || bad "output $f missing"
done
# 8 views of 64 px, 4 rows (shaded, albedo, normals, textureless), 2 px gaps.
got=$(png_size "$D/turntable.png")
[ "$got" = "526 262" ] && ok "turntable.png is a 526x262 PNG" || bad "turntable.png size '$got'"
[ "$(grep -c '"step"' "$D/log.jsonl")" = 80 ] && ok "log.jsonl: 80 steps" || bad "log.jsonl lines" "$(head -3 "$D/log.jsonl")"
grep -q '"iou"' "$D/metrics.json" && grep -q '"shape_correct"' "$D/metrics.json" \
  && ok "metrics.json has the score" || bad "metrics.json" "$(cat "$D/metrics.json")"
grep -Eq '"iso":[[:space:]]*5[,}[:space:]]' "$D/metrics.json" && grep -Eq '"reg_ramp":[[:space:]]*0\.3' "$D/config.json" \
  && ok "scored at iso 5, regulariser ramp 0.3 recorded" || bad "iso / reg_ramp" "$(grep -h 'iso\|reg_ramp' "$D/metrics.json" "$D/config.json")"
expect "other prompt's DIR -> exit 1" 1 "holds a run of \"a red cube\"" \
  "$V" generate "a blue cube" --prior oracle --steps 5 -o "$D"
expect "checkpoint renders" 0 "wrote" "$V" render "$D/checkpoint.safetensors" --views 2 --res 32 -o "$TMP/r.png"

# SIGINT: a checkpoint that loads, and --resume finishes the run.
S=$TMP/sig
"$V" generate "a green sphere" --prior oracle --steps 100 -o "$S" >"$TMP/sig.out" 2>&1 &
pid=$!
for _ in $(seq 1 600); do
  [ -f "$S/log.jsonl" ] && [ "$(wc -l <"$S/log.jsonl")" -ge 5 ] && break
  sleep 0.1
done
kill -INT $pid
wait $pid; rc=$?
if [ $rc -eq 130 ] && grep -q "interrupted at step" "$TMP/sig.out"; then ok "SIGINT -> exit 130, message"
else bad "SIGINT (exit $rc)" "$(tail -5 "$TMP/sig.out")"; fi
[ -s "$S/checkpoint.safetensors" ] && ok "SIGINT: checkpoint written" || bad "SIGINT: no checkpoint"
expect "SIGINT checkpoint renders" 0 "wrote" "$V" render "$S/checkpoint.safetensors" --views 2 --res 32 -o "$TMP/s.png"
expect "--resume finishes the run" 0 "resumed" "$V" generate --resume "$S"
n=$(grep -c '"step"' "$S/log.jsonl")
[ "$n" = 100 ] && ok "resumed log.jsonl: 100 steps" || bad "resumed log.jsonl has $n lines"
[ -s "$S/metrics.json" ] && ok "resumed run: metrics.json" || bad "resumed run: no metrics.json"
expect "--resume of a non-run -> exit 1" 1 "no config.json" "$V" generate --resume "$TMP/afile.d"

finish
