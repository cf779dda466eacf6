# Shared helpers of the end-to-end CLI test scripts (sourced, not run):
#   ok NAME / bad NAME [OUTPUT]       count a check, print it (OUTPUT indented under a failure)
#   expect NAME CODE REGEX CMD...     run CMD; its exit code must be CODE and its combined
#                                     output must match the extended regex REGEX
#   png_size FILE                     "W H" from the PNG header, nothing when not a PNG
#   finish                            print the tally; the script's exit status
fails=0; passes=0
ok()   { passes=$((passes + 1)); echo "ok   $1"; }
bad()  { fails=$((fails + 1)); echo "FAIL $1"; [ -n "${2:-}" ] && printf '%s\n' "$2" | sed 's/^/     | /'; }
expect() {
  local name=$1 code=$2 re=$3; shift 3
  local out; out=$("$@" 2>&1); local rc=$?
  if [ "$rc" -ne "$code" ]; then bad "$name (exit $rc, wanted $code)" "$out"; return; fi
  if ! grep -Eq -- "$re" <<<"$out"; then bad "$name (no /$re/)" "$out"; return; fi
  ok "$name"
}
png_size() {
  [ -f "$1" ] || return
  [ "$(head -c 8 "$1" | od -An -tx1 | tr -d ' \n')" = "89504e470d0a1a0a" ] || return
  od -An -tu1 -j16 -N8 "$1" | awk '{print $1*16777216+$2*65536+$3*256+$4, $5*16777216+$6*65536+$7*256+$8}'
}
finish() {
  echo "$passes passed, $fails failed"
  [ "$fails" -eq 0 ]
}
