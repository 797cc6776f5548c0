#!/usr/bin/env bash
# Test a dkms-rs .deb in a throw-away root: in a private mount namespace,
# copy-on-write overlays over /usr, /etc and /var take every write, so the
# host is never changed. Installs the package with dpkg -i, checks dkms
# --version, the man pages, a module add and its bash completion, the
# kernel hooks, then dpkg --purge and that nothing of the package is left.
# Usage (root): scripts/check-deb.sh PATH/TO/dkms-rs.deb
set -euo pipefail

if [[ ${1-} != __inner ]]; then
    [[ $# == 1 && -f $1 ]] || { echo "usage: $0 PACKAGE.deb" >&2; exit 2; }
    ((EUID == 0)) || { echo "check-deb: must run as root (it mounts overlays in a private mount namespace)" >&2; exit 2; }
    deb=$(readlink -f "$1")
    scratch=$(mktemp -d /tmp/check-deb.XXXXXX)
    trap 'rm -rf "$scratch"' EXIT
    rc=0
    unshare --mount --propagation private -- "$0" __inner "$scratch" "$deb" || rc=$?
    exit "$rc"
fi

S=$2
deb=$3
export PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
export LC_ALL=C MANPAGER=cat PAGER=cat MANWIDTH=80

# Refuse to mount anything unless this is a private mount namespace.
if [[ $(readlink /proc/self/ns/mnt) == "$(readlink /proc/$PPID/ns/mnt)" ]] ||
    grep -qE ' (shared|master):[0-9]+' /proc/self/mountinfo; then
    echo "check-deb: refusing: not in a private mount namespace" >&2
    exit 90
fi

# Mounts below the overlaid trees would be hidden by the overlays: show
# them again afterwards, from a view of the host root, read-only.
trees=()
for t in usr etc var lib lib64 bin sbin; do
    [[ -d /$t && ! -L /$t ]] && trees+=("$t")
done
subs=()
while read -r m; do
    m=$(printf '%b' "$m")
    for t in "${trees[@]}"; do
        [[ $m == /$t/* ]] && subs+=("$m")
    done
done < <(awk '{print $5}' /proc/self/mountinfo | sort -u)
if ((${#subs[@]})); then
    mkdir -p "$S/hostroot"
    mount --rbind / "$S/hostroot"
fi
for t in "${trees[@]}"; do
    mkdir -p "$S/ovl/$t/upper" "$S/ovl/$t/work"
    mount -t overlay "check-deb-$t" -o "lowerdir=/$t,upperdir=$S/ovl/$t/upper,workdir=$S/ovl/$t/work" "/$t"
done
for m in "${subs[@]}"; do
    [[ -e $m ]] || continue
    mount --rbind "$S/hostroot$m" "$m"
    mount -o remount,bind,ro "$m" 2>/dev/null || true
done

passed=0
failed=0
check() {
    local what=$1
    shift
    if "$@" >"$S/out" 2>&1; then
        passed=$((passed + 1))
        echo "ok: $what"
    else
        failed=$((failed + 1))
        echo "FAILED: $what"
        sed 's/^/    /' "$S/out"
    fi
}
contains() { grep -q -- "$2" <<<"$1"; }

version=$(dpkg-deb -f "$deb" Version)
payload=$(dpkg-deb -c "$deb" | awk '{print $6}' | sed 's|^\./|/|; s|/$||' | grep -v '^/*$' | sort)
existed_before=$(while read -r p; do [[ -e $p ]] && echo "$p"; done <<<"$payload" || true)

check "dpkg -i installs the package" dpkg -i "$deb"
check "dkms --version prints dkms-$version" test "$(dkms --version)" = "dkms-$version"
check "/etc/dkms/framework.conf is a conffile" \
    contains "$(dpkg-query -W -f='${Conffiles}' dkms-rs)" /etc/dkms/framework.conf
check "the verbs are found in /usr/libexec/dkms" test "$(dkms --list-cmds | wc -l)" -ge 15
check "man dkms renders" contains "$(man dkms 2>&1)" "Dynamic Kernel Module Support"
check "man dkms-install renders" contains "$(man dkms-install 2>&1)" "dkms install"

mkdir -p /usr/src/checkdeb-1.0
printf 'PACKAGE_NAME=checkdeb\nPACKAGE_VERSION=1.0\nBUILT_MODULE_NAME=checkdeb\nDEST_MODULE_LOCATION=/updates\nAUTOINSTALL=yes\n' \
    >/usr/src/checkdeb-1.0/dkms.conf
echo 'obj-m += checkdeb.o' >/usr/src/checkdeb-1.0/Makefile
check "dkms add checkdeb/1.0" dkms add checkdeb/1.0
check "dkms status shows it" contains "$(dkms status)" "checkdeb/1.0: added"
complete_words() {
    bash -c 'source /usr/share/bash-completion/completions/dkms
        COMP_WORDS=("$@"); COMP_CWORD=$(($# - 1)); _dkms
        printf "%s\n" "${COMPREPLY[@]}"' bash "$@"
}
check "bash completes dkms install -m <TAB>" test "$(complete_words dkms install -m '')" = checkdeb
check "bash completes dkms install -m checkdeb -v <TAB>" test "$(complete_words dkms install -m checkdeb -v '')" = 1.0
check "bash completes dkms rem<TAB>" test "$(complete_words dkms rem)" = remove
check "the postinst.d hook exits 0 without headers" /etc/kernel/postinst.d/dkms 0.0.0-check-deb
check "the header_postinst.d hook exits 0 without headers" /etc/kernel/header_postinst.d/dkms 0.0.0-check-deb
check "the preinst.d hook exits 0" /etc/kernel/preinst.d/dkms 0.0.0-check-deb
check "the prerm.d hook exits 0" /etc/kernel/prerm.d/dkms 0.0.0-check-deb
check "dkms remove checkdeb/1.0 --all" dkms remove checkdeb/1.0 --all
rm -rf /usr/src/checkdeb-1.0

check "dpkg --purge removes the package" dpkg --purge dkms-rs
check "dpkg knows nothing of it any more" test -z "$(dpkg-query -W -f='${db:Status-Status}' dkms-rs 2>/dev/null)"
left=$(while read -r p; do
    [[ -e $p || -L $p ]] || continue
    grep -qxF -- "$p" <<<"$existed_before" || echo "$p"
done <<<"$payload" || true)
check "nothing of the package is left" test -z "$left"
[[ -z $left ]] || echo "$left" | sed 's/^/    left: /'

echo "check-deb: $passed passed, $failed failed"
((failed == 0))
