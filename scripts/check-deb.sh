#!/usr/bin/env bash
# Test a dkms-rs .deb in a throw-away root: in a private mount namespace,
# copy-on-write overlays over /usr, /etc, /var and /boot take every write,
# so the host is never changed. Local part: dpkg -i, dkms --version, the
# man pages, bash completion, the kernel hooks, kernel-install add/remove of
# a module, the apport call, dkms-autopkgtest on a local *-dkms package.
# Archive part (apt): real *-dkms packages (their postinst goes through
# common.postinst), dkms-autopkgtest on one, a kernel headers package whose
# postinst runs our hook, a module that fails to build, purge, a switch to
# Debian's dkms and back, lintian. The archive part is skipped, saying so,
# only when apt cannot reach the archive. Ends with a table of every step:
# expected and actual exit status and seconds taken.
# Usage (root): scripts/check-deb.sh PATH/TO/dkms-rs.deb
set -euo pipefail
. "$(dirname "$0")/check-deb-root.sh"

if [[ ${1-} != __inner ]]; then
    [[ $# == 1 && -f $1 ]] || { echo "usage: $0 PACKAGE.deb" >&2; exit 2; }
    ((EUID == 0)) || { echo "check-deb: must run as root (it mounts overlays in a private mount namespace)" >&2; exit 2; }
    reenter_private check-deb "$(readlink -f "$1")"
fi

S=$2
deb=$3
export PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
# Run by make check-deb: make's variables must not reach the builds (nor
# the measuring make of check-deb-upgrades.sh, which notes MAKELEVEL-less
# top-level makes only).
unset MAKELEVEL MAKEFLAGS MFLAGS MAKEOVERRIDES
export LC_ALL=C MANPAGER=cat PAGER=cat MANWIDTH=80

# Refuse to mount anything unless this is a private mount namespace; then
# the overlays that take every write.
require_private check-deb
overlay_host check-deb "$S"

table=()
passed=0
failed=0
# step WHAT EXPECTED CMD...: run CMD (output in $S/out), expect exit status
# EXPECTED ("nonzero": anything but 0), note the time taken for the table.
step() {
    local what=$1 expect=$2 rc=0 t0=$SECONDS ok=0
    shift 2
    "$@" >"$S/out" 2>&1 || rc=$?
    case $expect in
    nonzero) [[ $rc != 0 ]] && ok=1 ;;
    *) [[ $rc == "$expect" ]] && ok=1 ;;
    esac
    if ((ok)); then
        passed=$((passed + 1))
        echo "ok: $what"
    else
        failed=$((failed + 1))
        echo "FAILED: $what (exit $rc, expected $expect)"
        sed 's/^/    /' "$S/out" | tail -n 60
    fi
    table+=("$(printf '%-7s %8s %4s %5ss  %s' "$( ((ok)) && echo ok || echo FAILED)" "$expect" "$rc" $((SECONDS - t0)) "$what")")
    return 0
}
check() {
    local what=$1
    shift
    step "$what" 0 "$@"
}
contains() { grep -q -- "$2" <<<"$1"; }
lacks() { ! grep -q -- "$2" <<<"$1"; }
# The output of the last step.
out() { cat "$S/out"; }

version=$(dpkg-deb -f "$deb" Version)
payload=$(dpkg-deb -c "$deb" | awk '{print $6}' | sed 's|^\./|/|; s|/$||' | grep -v '^/*$' | sort)
existed_before=$(while read -r p; do [[ -e $p ]] && echo "$p"; done <<<"$payload" || true)
# A kernel whose headers are installed (the newest), for real builds.
K=$(newest_kernel)
export DEBIAN_FRONTEND=noninteractive

# A module source under /usr/src: mkmod NAME [EXTRA dkms.conf LINES] [broken].
mkmod() {
    local name=$1 extra=${2-} src=/usr/src/$1-1.0
    mkdir -p "$src"
    printf 'PACKAGE_NAME=%s\nPACKAGE_VERSION=1.0\nBUILT_MODULE_NAME=%s\nDEST_MODULE_LOCATION=/updates\nAUTOINSTALL=yes\n%s\n' \
        "$name" "$name" "$extra" >"$src/dkms.conf"
    printf 'obj-m += %s.o\n' "$name" >"$src/Makefile"
    if [[ ${3-} == broken ]]; then
        printf '#include <linux/module.h>\nthis is not C;\nMODULE_LICENSE("GPL");\n' >"$src/$name.c"
    else
        printf '#include <linux/module.h>\nMODULE_LICENSE("GPL");\n' >"$src/$name.c"
    fi
}

# ---------------------------------------------------------------- local part
check "dpkg -i installs the package" dpkg -i "$deb"
check "dkms --version prints dkms-$version" test "$(dkms --version)" = "dkms-$version"
check "/etc/dkms/framework.conf is a conffile" \
    contains "$(dpkg-query -W -f='${Conffiles}' dkms-rs)" /etc/dkms/framework.conf
check "the verbs are found in /usr/libexec/dkms" test "$(dkms --list-cmds | wc -l)" -ge 15
check "/usr/libexec/dkms/dkms-status (a symlink to dkms) runs as status" /usr/libexec/dkms/dkms-status
check "man dkms renders (gzipped page)" contains "$(man dkms 2>&1)" "Dynamic Kernel Module Support"
check "man dkms-install renders" contains "$(man dkms-install 2>&1)" "dkms install"
check "man 5 dkms.conf renders" contains "$(man 5 dkms.conf 2>&1)" "BUILT_MODULE_NAME"
check "man 5 framework.conf renders" contains "$(man 5 framework.conf 2>&1)" "kernel_hook_on_failure"
check "man 7 dkms-json renders" contains "$(man 7 dkms-json 2>&1)" "format_version"

mkmod checkdeb
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

if [[ -z $K ]]; then
    echo "check-deb: no kernel headers installed: kernel-install, builds and the archive part skipped"
else
    # kernel-install(8) add runs /usr/lib/kernel/install.d/40-dkms.install, which builds
    # and installs the AUTOINSTALL modules for the kernel; remove undoes it.
    image=/boot/vmlinuz-$K
    [[ -e $image ]] || : >"$S/vmlinuz-$K"
    [[ -e $image ]] || image=$S/vmlinuz-$K
    check "kernel-install add $K installs checkdeb (40-dkms.install)" kernel-install add "$K" "$image"
    check "  checkdeb/1.0 installed for $K" contains "$(dkms status checkdeb/1.0 -k "$K")" "checkdeb/1.0, $K, .*: installed"
    check "  its module is in /lib/modules/$K/updates" test -n "$(find "/lib/modules/$K/updates" -name 'checkdeb.ko*')"
    check "kernel-install remove $K uninstalls it" kernel-install remove "$K"
    check "  checkdeb/1.0 no longer built for $K" test "$(dkms status checkdeb/1.0 -k "$K")" = "checkdeb/1.0: added"

    # apport: upstream runs its dkms package hook when /usr/share/apport/apport
    # exists; we ship no hook and must not call one that is not there.
    mkmod checkbroken "" broken
    dkms add checkbroken/1.0 >/dev/null
    mkdir -p /usr/share/apport/package-hooks
    printf '#!/bin/sh\nexit 0\n' >/usr/share/apport/apport
    chmod 755 /usr/share/apport/apport
    step "apport, no hook: dkms build of a broken module exits 10" 10 dkms build checkbroken/1.0 -k "$K"
    check "  and runs no missing hook" lacks "$(out)" "can't open file"
    if command -v python3 >/dev/null; then
        printf 'import sys\nopen("/tmp/check-deb-apport", "w").write(" ".join(sys.argv[1:]))\n' \
            >/usr/share/apport/package-hooks/dkms_packages.py
        step "apport, hook present: dkms build exits 10" 10 dkms build checkbroken/1.0 -k "$K"
        check "  and runs the hook with -m -v -k" test "$(cat /tmp/check-deb-apport 2>/dev/null)" = "-m checkbroken -v 1.0 -k $K"
    fi
    rm -rf /usr/share/apport /tmp/check-deb-apport

    # A kernel hook with a module that fails to build (checkbroken) and one
    # that builds (checkdeb): the failure policy, the closing block, the
    # record dkms status shows.
    hook=/etc/kernel/header_postinst.d/dkms
    step "$hook $K, a module fails: exit 0 (kernel_hook_on_failure default)" 0 $hook "$K"
    hook_out=$(out)
    check "  checkdeb/1.0 is installed for $K" contains "$(dkms status checkdeb/1.0 -k "$K")" ": installed"
    check "  the closing block lists checkbroken with its make.log" contains \
        "$(sed -n '/^======== dkms: FAILED/,/^======== dkms: end/p' <<<"$hook_out")" \
        "checkbroken/1.0 (.*): build-failed, exit status 10, log: /var/lib/dkms/.failures/checkbroken/1.0/$K/.*/make.log"
    check "  dkms status --json has a failure record for checkbroken on $K" contains \
        "$(dkms status --json -k "$K")" '"type":"failed","module":"checkbroken","version":"1.0","kernel":"'"$K"'"'
    check "  dkms status text is upstream's (no failure line by default)" \
        test "$(dkms status checkbroken/1.0)" = "checkbroken/1.0: added"
    echo 'status_show_failures=yes' >/etc/dkms/framework.conf.d/check-deb.conf
    check "  status_show_failures=yes: dkms status prints the failure" contains \
        "$(dkms status checkbroken/1.0)" "^checkbroken/1.0, $K, .*: build failed (build-failed, exit status 10); see: dkms log checkbroken/1.0 -k $K"
    echo 'kernel_hook_on_failure=fail' >/etc/dkms/framework.conf.d/check-deb.conf
    step "$hook $K with kernel_hook_on_failure=fail: exit 1 (upstream's)" 1 $hook "$K"
    check "  the closing block is there too" contains "$(out)" "^======== dkms: FAILED to build/install for kernel $K"
    rm /etc/dkms/framework.conf.d/check-deb.conf
    printf '#include <linux/module.h>\nMODULE_LICENSE("GPL");\n' >/usr/src/checkbroken-1.0/checkbroken.c
    step "$hook $K after the module is fixed: exit 0" 0 $hook "$K"
    check "  no closing block" lacks "$(out)" "======== dkms"
    check "  the failure record is gone" test ! -e /var/lib/dkms/.failures/checkbroken
    dkms remove checkbroken/1.0 --all >/dev/null 2>&1 || true
    dkms remove checkdeb/1.0 --all >/dev/null 2>&1 || true
    mkmod checkbroken "" broken
    dkms add checkbroken/1.0 >/dev/null

    # dkms-autopkgtest on local *-dkms packages made here: one that builds
    # (PASS, exit 0), one excluded by BUILD_EXCLUSIVE_KERNEL (SKIP, 77), one
    # that fails to build (FAIL, 1); run from a source tree's debian/control.
    mklocaldeb() {
        local name=$1 root=$S/pkg-$1
        mkdir -p "$root/DEBIAN" "$root/usr/src"
        cp -a "/usr/src/$name-1.0" "$root/usr/src/"
        printf 'Package: %s-dkms\nVersion: 1.0\nArchitecture: all\nMaintainer: check-deb <check-deb@example.org>\nDepends: dkms\nDescription: check-deb test module\n' \
            "$name" >"$root/DEBIAN/control"
        dpkg-deb --root-owner-group --build "$root" "$S/$name-dkms.deb" >/dev/null && dpkg -i "$S/$name-dkms.deb" >/dev/null
    }
    mkmod checkexcl 'BUILD_EXCLUSIVE_KERNEL="^0\.0\."'
    mklocaldeb checkdeb && mklocaldeb checkexcl && mklocaldeb checkbroken
    mkdir -p "$S/src/debian"
    printf 'Source: checkdeb\n\nPackage: checkdeb-dkms\nArchitecture: all\nDepends: dkms\n\nPackage: checkdeb-doc\nArchitecture: all\nDepends: foo\n' \
        >"$S/src/debian/control"
    step "dkms-autopkgtest from debian/control: checkdeb-dkms PASS" 0 \
        sh -c "cd '$S/src' && /usr/lib/dkms/dkms-autopkgtest"
    check "  the summary says PASS for $K" contains "$(out)" "PASS checkdeb/1.0 for $K"
    check "  checkdeb/1.0 installed for $K" contains "$(dkms status checkdeb/1.0 -k "$K")" ": installed"
    step "dkms-autopkgtest checkexcl-dkms: SKIP, exit 0 (as Debian's)" 0 /usr/lib/dkms/dkms-autopkgtest checkexcl-dkms
    check "  the summary says SKIP for $K" contains "$(out)" "SKIP checkexcl/1.0 for $K"
    step "dkms-autopkgtest checkbroken-dkms: FAIL" 1 /usr/lib/dkms/dkms-autopkgtest checkbroken-dkms
    check "  the make.log is shown" contains "$(out)" "this is not C"
    # As their prerm would (dh_dkms): out of DKMS first, then purged.
    for m in checkdeb checkexcl checkbroken; do dkms remove "$m/1.0" --all >/dev/null 2>&1 || true; done
    check "dpkg --purge the local *-dkms packages" dpkg --purge checkdeb-dkms checkexcl-dkms checkbroken-dkms
fi
rm -rf /usr/src/checkdeb-1.0 /usr/src/checkexcl-1.0 /usr/src/checkbroken-1.0

check "dpkg --purge removes the package" dpkg --purge dkms-rs
check "dpkg knows nothing of it any more" test -z "$(dpkg-query -W -f='${db:Status-Status}' dkms-rs 2>/dev/null)"
left=$(while read -r p; do
    [[ -e $p || -L $p ]] || continue
    grep -qxF -- "$p" <<<"$existed_before" || echo "$p"
done <<<"$payload" || true)
check "nothing of the package is left" test -z "$left"
[[ -z $left ]] || echo "$left" | sed 's/^/    left: /'

# ---------------------------------------------------------------- archive part
. "$(dirname "$0")/check-deb-archive.sh"
. "$(dirname "$0")/check-deb-progress.sh"

echo
echo "check-deb: steps (result, expected exit, exit, seconds, step):"
printf '%s\n' "${table[@]}"
echo "check-deb: $passed passed, $failed failed"
((failed == 0))
