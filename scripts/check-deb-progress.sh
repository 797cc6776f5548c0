# The live status line under apt (README, "Build progress"), sourced by
# scripts/check-deb.sh inside its overlay after the archive part (uses the
# step/check helpers, $deb, $K, $S, and check-deb-archive.sh's candidate
# and $S/apt-update): apt-get install -o Dpkg::Progress-Fancy=1 of a real *-dkms
# package in a tmux pane (a real pty; apt gives dpkg one of its own and keeps
# the terminal's last row for its progress bar with a scroll region). The
# pane is captured every 0.1 s while apt runs: during the build the status
# line (module/version, "for K", an elapsed time, a kbuild step) must be
# there with apt's bar still on the last row; afterwards the status line
# and the bar are gone, the text is what the same install prints without a
# terminal (upstream's, apart from the number of dots), and the terminal is
# as it was (stty settings, scroll region, cursor, main screen).
# v4l2loopback-dkms: one C file of 3000 lines, a build of 3 s on an idle
# machine (about 30 captures) and 15 s on a busy one.
# shellcheck shell=bash

PROG_PKG=v4l2loopback-dkms
PROG_ROWS=40
PROG_COLS=150

ptmux() { TERM=xterm-256color tmux -S "$S/progress.sock" "$@"; }
# The whole pane, history included, wrapped lines joined, trailing blanks cut.
pane_all() { ptmux capture-pane -p -J -S - -E - -t p | sed 's/[[:space:]]*$//' | sed -e :a -e '/^\n*$/{$d;N;ba' -e '}'; }
# The status line in capture FILE: "<module>/<version> for K  <elapsed>  <kbuild step>".
status_re() { echo "^${PROG_MOD}/${PROG_VER//./\\.} for ${K//./\\.}  [0-9]+(m[0-9]{2})?s  [A-Z][A-Z0-9_]* (\[M\] )?[^ ]+"; }
bar_re='^Progress: \[ *[0-9]+%\] \[[#.]+\]$'
# The dkms part of an apt run's text: from "Setting up PKG" to the next
# line of apt or dpkg's own, each run of progress dots as upstream's three
# (and without the carriage returns of dpkg's pty, which a pipe keeps).
dkms_part() {
    tr -d '\r' <"$1" | awk -v p="Setting up $PROG_PKG " 'index($0, p) == 1 { on = 1; next }
        on && /^(Setting up|Processing triggers|Progress: |\[exit |[NWE]: )/ { exit }
        on' | sed -E 's/\.{4,}/.../g'
}

if [[ -z $K ]] || ! command -v tmux >/dev/null; then
    echo "check-deb: progress under apt SKIPPED: needs kernel headers and tmux"
    return 0
fi
if grep -q '^[WE]: Failed to fetch' "$S/apt-update" 2>/dev/null || [[ -z $(candidate "$PROG_PKG") ]]; then
    echo "check-deb: progress under apt SKIPPED: apt cannot reach $PROG_PKG in the archive"
    return 0
fi
check "apt-get install our .deb (for the progress under apt)" apt-get install -y --no-install-recommends "$deb"
PROG_VER=$(candidate "$PROG_PKG" | sed 's/^[0-9]*://; s/-[^-]*$//')
PROG_MOD=${PROG_PKG%-dkms}
mkdir -p "$S/progress"
cat >"$S/progress/pane.sh" <<EOF
export LC_ALL=C DEBIAN_FRONTEND=noninteractive PATH='$PATH'
stty -g >'$S/progress/stty.before'
apt-get install -y --no-install-recommends -o Dpkg::Progress-Fancy=1 $PROG_PKG
echo "[exit \$?]"
stty -g >'$S/progress/stty.after'
exec sleep 900
EOF
ptmux new-session -d -s p -x "$PROG_COLS" -y "$PROG_ROWS" "bash --norc --noprofile '$S/progress/pane.sh'"
# Capture until apt has ended (at most 10 minutes); note the scroll region
# apt set, as tmux sees it, with each capture.
n=0
t_end=$((SECONDS + 600))
while ((SECONDS < t_end)); do
    n=$((n + 1))
    ptmux display -p -t p '#{scroll_region_upper} #{scroll_region_lower}' >"$S/progress/region.$n"
    ptmux capture-pane -p -t p >"$S/progress/cap.$n"
    grep -q '^\[exit ' "$S/progress/cap.$n" && break
    sleep 0.1
done
pane_all >"$S/progress/after"
ptmux display -p -t p '#{scroll_region_upper} #{scroll_region_lower} #{cursor_flag} #{alternate_on}' >"$S/progress/state"
sleep 0.5
# Captures with the status line; the first of them is shown in the report.
with_status=()
for i in $(seq 1 "$n"); do
    grep -qE "$(status_re)" "$S/progress/cap.$i" && with_status+=("$i")
done
during=${with_status[0]-}
echo "check-deb: progress under apt: $n captures, ${#with_status[@]} with the status line"
# Every capture with the status line: apt's bar alone on the last row, the
# status line above it, apt's scroll region (rows 0-38) in force.
bar_kept() {
    local i rows
    ((${#with_status[@]})) || { echo "no capture with the status line"; return 1; }
    for i in "${with_status[@]}"; do
        rows=$(cat "$S/progress/cap.$i")
        [[ $(tail -n 1 <<<"$rows") =~ $bar_re ]] || { echo "capture $i: the last row is not apt's bar:"; cat "$S/progress/cap.$i"; return 1; }
        [[ $(grep -cE '^Progress: ' <<<"$rows") == 1 ]] || { echo "capture $i: the bar twice"; cat "$S/progress/cap.$i"; return 1; }
        [[ $(cat "$S/progress/region.$i") == "0 $((PROG_ROWS - 2))" ]] || { echo "capture $i: scroll region $(cat "$S/progress/region.$i")"; return 1; }
    done
}
step "apt-get install -o Dpkg::Progress-Fancy=1 $PROG_PKG in tmux: exit 0" 0 grep -qx '\[exit 0\]' "$S/progress/after"
check "  during the build: '$PROG_MOD/$PROG_VER for $K  <elapsed>  <kbuild step>' on screen" test -n "$during"
check "  apt's bar keeps the last row in each of those captures (scroll region 0-$((PROG_ROWS - 2)))" bar_kept
check "  afterwards no status line is left" bash -c "! grep -qE '^$PROG_MOD/$PROG_VER for ' '$S/progress/after'"
check "  nor apt's bar" bash -c "! grep -qE '^Progress: ' '$S/progress/after'"
check "  upstream's text: Building module(s)... done." grep -q '^Building module(s)\.\.\.* done\.$' "$S/progress/after"
check "  the terminal is sane: stty settings as before" cmp "$S/progress/stty.before" "$S/progress/stty.after"
check "  the terminal is sane: full scroll region, cursor shown, main screen" \
    test "$(cat "$S/progress/state")" = "0 $((PROG_ROWS - 1)) 1 0"
ptmux kill-server 2>/dev/null || true
# The same install without a terminal: upstream's text (byte-identical by
# default), the text the pane must show.
check "apt-get purge $PROG_PKG" apt-get purge -y "$PROG_PKG"
check "apt-get install $PROG_PKG without a terminal" apt-get install -y --no-install-recommends "$PROG_PKG"
cp "$S/out" "$S/progress/plain"
# dpkg's pty has no size when apt's output is a pipe: nothing is drawn.
check "  no escape sequence in it (dkms drew no status line into the pipe)" bash -c "! grep -q \$'\\e' '$S/progress/plain'"
check "  the pane's text from 'Setting up $PROG_PKG' equals it (dots aside)" \
    diff -u <(dkms_part "$S/progress/plain") <(dkms_part "$S/progress/after")
check "  and is not empty" test -n "$(dkms_part "$S/progress/plain")"
echo "check-deb: progress under apt: a capture during the build (${during:+capture $during of $n}):"
[[ -n $during ]] && sed 's/^/    | /' "$S/progress/cap.$during"
echo "check-deb: progress under apt: the pane after apt ended:"
tail -n "$PROG_ROWS" "$S/progress/after" | sed 's/^/    | /'
check "apt-get purge $PROG_PKG dkms-rs" apt-get purge -y "$PROG_PKG" dkms-rs
