# A virtual X display for the window tests (sourced, not run):
#   start_xvfb SCREEN DIR    start Xvfb with screen SCREEN (e.g. 800x600x24), its display
#                            number read back through DIR/displayfd; sets XPID and exports
#                            DISPLAY. Returns 1 (reason on stderr) when no display came up;
#                            the caller decides whether that skips or fails, and kills
#                            $XPID on exit.
start_xvfb() {
  local screen=$1 dir=$2 num=""
  exec 3<>"$dir/displayfd" || { echo "cannot create $dir/displayfd" >&2; return 1; }
  Xvfb -displayfd 3 -screen 0 "$screen" -nolisten tcp >"$dir/xvfb.log" 2>&1 &
  XPID=$!
  for _ in $(seq 50); do
    num=$(head -1 "$dir/displayfd" 2>/dev/null)
    [ -n "$num" ] && break
    sleep 0.1
  done
  [ -n "$num" ] || { echo "Xvfb did not start: $(tail -3 "$dir/xvfb.log")" >&2; return 1; }
  export DISPLAY=":$num"
}
