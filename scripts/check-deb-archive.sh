# The archive part of scripts/check-deb.sh, sourced by it inside its
# overlay (uses its step/check helpers, $deb, $K, $S): real packages from
# the Debian archive with our dkms. Skipped, saying so, only when apt
# cannot reach the archive.
# shellcheck shell=bash

# The kernel whose headers package is installed here to run our
# header_postinst.d hook the way its postinst does; and a module that fails
# to build against bookworm's kernels.
HEADERS_KVER=${CHECK_DEB_HEADERS_KVER:-6.1.0-56-amd64}
GOOD_PKGS="v4l2loopback-dkms acpi-call-dkms"
BAD_PKG=librem-ec-acpi-dkms

candidate() { apt-cache policy "$1" 2>/dev/null | sed -n 's/^ *Candidate: //p' | grep -vx '(none)'; }

if [[ -z $K ]]; then
    echo "check-deb: archive part SKIPPED: no kernel headers installed to build against"
    return 0
fi
if ! apt-get update >"$S/apt-update" 2>&1 || grep -q '^[WE]: Failed to fetch' "$S/apt-update" ||
    [[ -z $(candidate v4l2loopback-dkms) ]]; then
    echo "check-deb: archive part SKIPPED: apt cannot reach the archive:"
    sed 's/^/    /' "$S/apt-update" | tail -n 5
    return 0
fi
apt_install() { apt-get install -y --no-install-recommends "$@"; }
# The .ko of module NAME installed for kernel KVER.
ko() { find "/lib/modules/$2" -name "$1.ko*" -path '*/updates/*' | head -n 1; }

check "apt-get install our .deb (Provides: dkms)" apt_install "$deb"
check "apt-get install $GOOD_PKGS (postinst: common.postinst)" apt_install $GOOD_PKGS
st=$(dkms status -k "$K")
check "  dkms status: v4l2loopback installed for $K" contains "$st" "^v4l2loopback/.*, $K, .*: installed"
check "  dkms status: acpi-call installed for $K" contains "$st" "^acpi-call/.*, $K, .*: installed"
for m in v4l2loopback acpi_call; do
    f=$(ko "$m" "$K")
    check "  $m.ko installed for $K with vermagic $K" \
        test -n "$f" -a "$(modinfo -F vermagic "$f" 2>/dev/null | cut -d' ' -f1)" = "$K"
done
check "dkms-autopkgtest acpi-call-dkms" /usr/lib/dkms/dkms-autopkgtest acpi-call-dkms
check "  PASS for $K" contains "$(out)" "PASS acpi-call/.* for $K"

if [[ -n $(candidate "linux-headers-$HEADERS_KVER") && -n $(candidate "$BAD_PKG") ]]; then
    check "apt-get install linux-headers-$HEADERS_KVER (postinst runs header_postinst.d/dkms)" \
        apt_install "linux-headers-$HEADERS_KVER"
    check "  v4l2loopback installed for $HEADERS_KVER" \
        contains "$(dkms status v4l2loopback -k "$HEADERS_KVER")" ": installed"
    step "apt-get install $BAD_PKG: its postinst fails (as with Debian's dkms)" 100 apt_install "$BAD_PKG"
    hook=/etc/kernel/header_postinst.d/dkms
    step "$hook $HEADERS_KVER with $BAD_PKG: exit 0 (default policy)" 0 $hook "$HEADERS_KVER"
    check "  the closing block lists it with its make.log" contains "$(out)" "^  librem.*: build-failed, exit status 10, log: /var/lib/dkms/.failures/.*/make.log"
    check "  dkms status --json: a failure record for $HEADERS_KVER" \
        contains "$(dkms status --json -k "$HEADERS_KVER")" '"type":"failed","module":"librem'
    echo 'kernel_hook_on_failure=fail' >/etc/dkms/framework.conf.d/check-deb.conf
    step "$hook $HEADERS_KVER with kernel_hook_on_failure=fail: exit 1 (upstream's)" 1 $hook "$HEADERS_KVER"
    rm /etc/dkms/framework.conf.d/check-deb.conf
    step "dkms-autopkgtest $BAD_PKG: FAIL" 1 /usr/lib/dkms/dkms-autopkgtest "$BAD_PKG"
    check "apt-get purge $BAD_PKG linux-headers-$HEADERS_KVER" apt-get purge -y "$BAD_PKG" "linux-headers-$HEADERS_KVER"
else
    echo "check-deb: linux-headers-$HEADERS_KVER or $BAD_PKG not in the archive: that part skipped"
fi
# Kernel upgrades under dpkg: image and headers in the orders apt uses.
. "$(dirname "${BASH_SOURCE[0]}")/check-deb-upgrades.sh"
check "apt-get purge $GOOD_PKGS" apt-get purge -y $GOOD_PKGS
check "  dkms status is empty" test -z "$(dkms status)"
check "  no module left in /lib/modules/$K/updates" test -z "$(ko v4l2loopback "$K")$(ko acpi_call "$K")"

# Switching: Debian's dkms in place of ours and back. Our conffiles stay
# (package state rc) and must be silent with the other dkms.
run_hooks() {
    local d
    for d in preinst.d postinst.d header_postinst.d prerm.d; do
        [[ -d /etc/kernel/$d ]] && run-parts --arg="$K" "/etc/kernel/$d"
    done
    kernel-install add "$K" "$image" && kernel-install remove "$K"
}
silent_hooks() {
    run_hooks >"$S/hooks" 2>&1 || { cat "$S/hooks"; return 1; }
    cat "$S/hooks"
    ! grep -qiE 'error|usage|unknown action' "$S/hooks"
}
check "apt-get install dkms (Debian's, in place of ours)" apt_install dkms
check "  dkms-rs is left in state rc" test "$(dpkg-query -W -f='${db:Status-Abbrev}' dkms-rs)" = "rc "
check "  the kernel hooks run without errors" silent_hooks
check "apt-get install our .deb again (in place of Debian's)" apt_install "$deb"
check "  dkms is left in state rc" test "$(dpkg-query -W -f='${db:Status-Abbrev}' dkms)" = "rc "
check "  the kernel hooks run without errors" silent_hooks
check "apt-get purge dkms-rs dkms" apt-get purge -y dkms-rs dkms

# The kernel upgrade scenarios again with Debian's dkms (ours purged), for
# the table of both.
if [[ -n ${up_secs[hand]-} ]]; then
    check "apt-get install dkms $GOOD_PKGS (Debian's dkms, ours purged)" apt_install dkms $GOOD_PKGS
    debian_upgrades
    check "apt-get purge $GOOD_PKGS dkms" apt-get purge -y $GOOD_PKGS dkms
fi

if ! command -v lintian >/dev/null; then
    check "apt-get install lintian" apt_install lintian
fi
lintian_clean() {
    local rc=0
    lintian --display-info --show-overrides "$deb" >"$S/lintian" 2>&1 || rc=$?
    cat "$S/lintian"
    ((rc == 0)) && ! grep -q '^[EW]: ' "$S/lintian"
}
check "lintian: no errors or warnings (overrides listed, with reasons)" lintian_clean
