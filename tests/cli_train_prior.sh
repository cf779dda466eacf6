#!/usr/bin/env bash
# End-to-end checks of `vkdream train-prior` on a tiny 8x8 prior (seconds): usage errors
# (exit 2), a new run that writes a loadable prior and a checkpoint, --resume continuing to
# a later step, a second run into the same directory refused, --init starting a new run from
# a prior's weights (also as a v-prediction prior) and refusing another architecture's.
#   usage: cli_train_prior.sh path/to/vkdream
set -u
V=$1
TMP=$(mktemp -d /tmp/vkd_cli_train_XXXXXX)
trap 'rm -rf "$TMP"' EXIT
. "$(dirname "$0")/cli_lib.sh"
export OMP_NUM_THREADS=1

tiny_config() { # FILE TEXT_WIDTH PREDICTION
  cat > "$1" <<JSON
{"format": "vkdream-prior", "version": 1, "type": "unet", "name": "tiny",
 "image": {"channels": 3, "height": 8, "width": 8, "range": [-1, 1], "encoding": "linear"},
 "schedule": {"beta_schedule": "cosine", "T": 1000},
 "camera": "shapeworld", "view_suffix": "dreamfusion",
 "shade_suffix": {"textureless": ", textureless"},
 "weights": "tiny.safetensors", "tokenizer": "tiny.tokenizer.json", "prediction": "$3",
 "text_encoder": {"vocab_size": 32, "hidden_size": $2, "intermediate_size": 64,
   "num_hidden_layers": 1, "num_attention_heads": 2, "max_position_embeddings": 12,
   "hidden_act": "gelu", "layer_norm_eps": 1e-5},
 "unet": {"constructor_args": {"image_size": 8, "in_channels": 3, "out_channels": 3,
   "model_channels": 32, "channel_mult": [1, 2], "num_res_blocks": 1,
   "attention_resolutions": [2], "num_heads": -1, "num_head_channels": 32,
   "context_dim": $2, "use_spatial_transformer": true, "legacy": false},
   "parameterization": "$3"}}
JSON
  cat > "$(dirname "$1")/tiny.tokenizer.json" <<'JSON'
{"type": "word", "tokens": ["<pad>", "<bos>", "<eos>", "a", "an", "sphere", "cube", "cylinder",
 "cone", "torus", "pyramid", "red", "orange", "yellow", "green", "cyan", "blue", "purple",
 "pink", ",", "front", "side", "back", "overhead", "view", "textureless"], "max_length": 12}
JSON
}
mkdir -p "$TMP/eps" "$TMP/v" "$TMP/wide"
tiny_config "$TMP/eps/tiny.json" 32 eps
tiny_config "$TMP/v/tiny.json" 32 v
tiny_config "$TMP/wide/tiny.json" 64 eps
T="--batch 4 --sample-every 0 --device cpu"

expect "--help" 0 "usage: vkdream train-prior" "$V" train-prior --help
expect "no run dir -> exit 2" 2 "give -o DIR" "$V" train-prior
expect "-o and --resume -> exit 2" 2 "exclude each other" "$V" train-prior -o "$TMP/a" --resume "$TMP/b"
expect "--init with --resume -> exit 2" 2 "--init starts a new run" \
  "$V" train-prior --resume "$TMP/a" --init "$TMP/w.safetensors"
expect "bad --steps -> exit 2" 2 "--steps: 'many'" "$V" train-prior -o "$TMP/a" --steps many
expect "missing config -> names it" 1 "nope\.json" "$V" train-prior --config "$TMP/nope.json" -o "$TMP/a"

expect "new run: 3 steps" 0 "holds the prior after 3 steps" \
  "$V" train-prior --config "$TMP/eps/tiny.json" -o "$TMP/run" --steps 3 $T
if [ -f "$TMP/run/tiny.json" ] && [ -f "$TMP/run/tiny.safetensors" ] && grep -q '"steps_done":[[:space:]]*3' "$TMP/run/train/state.json"; then
  ok "prior and checkpoint at step 3"
else bad "run directory after 3 steps" "$(ls -R "$TMP/run"; cat "$TMP/run/train/state.json")"; fi
expect "the run's prior samples" 0 "" \
  "$V" sample "a red cube" --prior "$TMP/run/tiny.json" -n 2 --steps 4 --device cpu -o "$TMP/s.png"
expect "a run over a run -> use --resume" 1 "--resume" \
  "$V" train-prior --config "$TMP/eps/tiny.json" -o "$TMP/run" --steps 3 $T
expect "--resume to step 5" 0 "after 5 steps" "$V" train-prior --resume "$TMP/run" --steps 5
if grep -q '"steps_done":[[:space:]]*5' "$TMP/run/train/state.json"; then ok "checkpoint at step 5"
else bad "state.json after resume" "$(cat "$TMP/run/train/state.json")"; fi
expect "--resume with another model -> exit 1" 1 "differs" \
  "$V" train-prior --resume "$TMP/run" --config "$TMP/wide/tiny.json" --steps 6

expect "--init: a v-prediction run from the eps run's weights" 0 "after 2 steps" \
  "$V" train-prior --config "$TMP/v/tiny.json" -o "$TMP/run-v" --init "$TMP/run/tiny.safetensors" --steps 2 $T
expect "--init of another architecture -> names the file" 1 "tiny\.safetensors" \
  "$V" train-prior --config "$TMP/wide/tiny.json" -o "$TMP/run-w" --init "$TMP/run/tiny.safetensors" --steps 2 $T
expect "--init of a missing file -> names it" 1 "gone\.safetensors" \
  "$V" train-prior --config "$TMP/eps/tiny.json" -o "$TMP/run-x" --init "$TMP/gone.safetensors" --steps 2 $T
finish
