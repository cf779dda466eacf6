#!/usr/bin/env bash
# End-to-end checks of `vkdream eval`: usage errors (exit 2), bad prompt files (exit 1 with a
# message naming the line), one short oracle run scored into eval.json / eval.md with the
# schema the issue fixes, and a second call that reuses the finished run.
#   usage: cli_eval.sh path/to/vkdream
set -u
V=$1
TMP=$(mktemp -d /tmp/vkd_cli_eval_XXXXXX)
trap 'rm -rf "$TMP"' EXIT
. "$(dirname "$0")/cli_lib.sh"
export OMP_WAIT_POLICY=PASSIVE

expect "--help" 0 "usage: vkdream eval" "$V" eval --help
expect "no --prompts" 2 "missing --prompts" "$V" eval
expect "bad --steps" 2 "--steps" "$V" eval --prompts x --steps 0
expect "missing prompt file" 1 "nope.txt" "$V" eval --prompts "$TMP/nope.txt" -o "$TMP/e0"
printf '# nothing\n\n' > "$TMP/empty.txt"
expect "file without prompts" 1 "holds no prompts" "$V" eval --prompts "$TMP/empty.txt" -o "$TMP/e0"
printf 'a red cube\na fluffy dragon\n' > "$TMP/bad.txt"
expect "non-ShapeWorld prompt names its line" 1 "line 2.*fluffy dragon" "$V" eval --prompts "$TMP/bad.txt" -o "$TMP/e0"

printf '# one prompt\na red sphere\n' > "$TMP/p.txt"
expect "oracle eval of one prompt" 0 "shape accuracy" \
  "$V" eval --prompts "$TMP/p.txt" -o "$TMP/e1" --prior oracle --steps 150 --seed 1
J="$TMP/e1/eval.json"
if python3 - "$J" <<'PY'
import json, sys
j = json.load(open(sys.argv[1]))
p = j["prompts"]; s = j["summary"]
assert len(p) == 1 and p[0]["prompt"] == "a red sphere", p
for k in ("iou", "shape_correct", "colour_correct", "judge_shape_correct", "judge_colour_correct", "seconds"):
    assert k in p[0], k
assert 0 <= p[0]["iou"] <= 1 and p[0]["seconds"] > 0
assert 0 <= p[0]["judge_shape_correct"] <= 8 and 0 <= p[0]["judge_colour_correct"] <= 8
for k in ("shape_accuracy", "colour_accuracy", "mean_iou", "mean_seconds"):
    assert k in s, k
assert abs(s["mean_iou"] - p[0]["iou"]) < 1e-9
PY
then ok "eval.json schema"; else bad "eval.json schema" "$(cat "$J" 2>&1)"; fi
[ -s "$TMP/e1/eval.md" ] && ok "eval.md written" || bad "eval.md written"
[ -f "$TMP/e1/a-red-sphere/checkpoint.safetensors" ] && ok "the run's directory is the prompt's slug" \
  || bad "the run's directory is the prompt's slug" "$(ls -R "$TMP/e1")"
expect "a second eval reuses the finished run" 0 "reusing the finished run" \
  "$V" eval --prompts "$TMP/p.txt" -o "$TMP/e1" --prior oracle --steps 150 --seed 1
finish
