# The throw-away root of scripts/check-deb.sh and scripts/check-deb-modules.sh,
# sourced by both before anything else, so that both test in the same kind
# of root: the script run again in a private mount namespace with a scratch
# directory (reenter_private), the refusal to mount anything outside one
# (require_private), the copy-on-write overlays over the host's trees
# (overlay_host), and the newest kernel with headers (newest_kernel).
# shellcheck shell=bash

# reenter_private NAME ARG: run this script again as `$0 __inner SCRATCH
# ARG` in a private mount namespace (its mounts never reach the host),
# SCRATCH a new /tmp/NAME.XXXXXX that is removed afterwards; exit with its
# exit status. $scratch is global: the EXIT trap runs after this returns.
reenter_private() {
    local rc=0
    scratch=$(mktemp -d "/tmp/$1.XXXXXX")
    trap 'rm -rf "$scratch"' EXIT
    unshare --mount --propagation private -- "$0" __inner "$scratch" "$2" || rc=$?
    exit "$rc"
}

# require_private NAME: exit 90, saying so as NAME, unless this is a
# private mount namespace: nothing may be mounted where the host sees it.
require_private() {
    if [[ $(readlink /proc/self/ns/mnt) == "$(readlink /proc/$PPID/ns/mnt)" ]] ||
        grep -qE ' (shared|master):[0-9]+' /proc/self/mountinfo; then
        echo "$1: refusing: not in a private mount namespace" >&2
        exit 90
    fi
}

# overlay_host NAME DIR: copy-on-write overlays (named NAME-<tree>, their
# upper and work directories under DIR/ovl) over the host's /usr, /etc,
# /var, /lib, /lib64, /bin, /sbin and /boot (those that are directories,
# not links): every write lands in DIR. Mounts below the overlaid trees
# would be hidden by the overlays: they are shown again afterwards, from a
# view of the host root (DIR/hostroot), read-only.
overlay_host() {
    local name=$1 dir=$2 t m trees=() subs=()
    for t in usr etc var lib lib64 bin sbin boot; do
        if [[ -d /$t && ! -L /$t ]]; then trees+=("$t"); fi
    done
    while read -r m; do
        m=$(printf '%b' "$m")
        for t in "${trees[@]}"; do
            if [[ $m == /$t/* ]]; then subs+=("$m"); fi
        done
    done < <(awk '{print $5}' /proc/self/mountinfo | sort -u)
    if ((${#subs[@]})); then
        mkdir -p "$dir/hostroot"
        mount --rbind / "$dir/hostroot"
    fi
    for t in "${trees[@]}"; do
        mkdir -p "$dir/ovl/$t/upper" "$dir/ovl/$t/work"
        mount -t overlay "$name-$t" -o "lowerdir=/$t,upperdir=$dir/ovl/$t/upper,workdir=$dir/ovl/$t/work" "/$t"
    done
    for m in "${subs[@]}"; do
        [[ -e $m ]] || continue
        mount --rbind "$dir/hostroot$m" "$m"
        mount -o remount,bind,ro "$m" 2>/dev/null || true
    done
}

# newest_kernel: the newest kernel (sort -V) whose headers are installed
# (/lib/modules/<k>/build/include), for real builds; nothing if none is.
# (An `if`, not `&&`: a last kernel without headers must not make the loop,
# and so under pipefail the whole, fail.)
newest_kernel() {
    local d
    for d in /lib/modules/*/build; do
        if [[ -d $d/include ]]; then basename "$(dirname "$d")"; fi
    done | sort -V | tail -n 1
}
