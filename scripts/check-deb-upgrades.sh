# Kernel upgrades under dpkg (README, "Kernel upgrades under dpkg"), part
# of scripts/check-deb.sh's archive part, sourced by it inside its overlay
# with $GOOD_PKGS installed (uses its step/check helpers, $S): a kernel from
# the archive this machine does not run, its image and headers installed
# with real apt in the orders apt uses. Builds are counted from apt's
# output (the "Building module(s)" line under a module's autoinstall
# heading); the dkms part of a transaction is timed from the time stamps
# put on each line of apt's output.
# shellcheck shell=bash

UPK=${CHECK_DEB_UPGRADE_KVER:-$HEADERS_KVER}
UP_MODS="v4l2loopback acpi-call"

# apt_logged LOG PACKAGE...: apt-get install, each output line prefixed
# with the time (seconds since the epoch) it was read, into LOG and out.
apt_logged() {
    local log=$1
    shift
    apt_install "$@" 2>&1 | while IFS= read -r l; do printf '%s %s\n' "$(date +%s.%N)" "$l"; done | tee "$log"
}
# builds LOG MODULE: how often LOG shows MODULE built for $UPK.
builds() {
    awk -v m="$2" -v k="$UPK" '
        / Autoinstall of module / { cur = (index($5, m "/") == 1 && $8 == k) }
        / Building module\(s\)/ && cur { n++ }
        END { print n + 0 }' "$1"
}
# builds_each LOG N: every module of $UP_MODS built N times in LOG.
builds_each() {
    local m
    for m in $UP_MODS; do
        [[ $(builds "$1" "$m") == "$2" ]] || { echo "$m built $(builds "$1" "$m") times, not $2"; return 1; }
    done
}
# trigger_seconds LOG: from "Processing triggers for dkms-rs" to the last
# line of its output (before update-initramfs, which is not dkms's work).
trigger_seconds() {
    awk '/ Processing triggers for dkms-rs/ { t0 = $1; on = 1; next }
         on && (/ Processing triggers for / || / update-initramfs: Generating/) { on = 0 }
         on { t1 = $1 }
         END { if (t0 && t1) printf "%.1f\n", t1 - t0; else print 0 }' "$1"
}
installed_all() {
    local m st
    st=$(dkms status -k "$UPK")
    for m in $UP_MODS; do contains "$st" "^$m/.*, $UPK, .*: installed" || return 1; done
}
no_errors() { ! grep -qE 'Error!|FAILED|dkms: building modules .* failed' "$1"; }
forget_kernel() {
    apt-get purge -y "linux-image-$UPK" "linux-headers-$UPK" >/dev/null 2>&1 || true
    /etc/kernel/prerm.d/dkms "$UPK" >/dev/null 2>&1 || true
    rm -rf "/lib/modules/$UPK" "/var/lib/dkms/.pending-kernels"
}
declare -A up_builds up_secs

if [[ -z $(candidate "linux-image-$UPK") || -z $(candidate "linux-headers-$UPK") ]]; then
    echo "check-deb: linux-image-$UPK or linux-headers-$UPK not in the archive: kernel upgrade scenarios skipped"
    return 0
fi
forget_kernel

# 1: headers, then the image, in two apt runs: built once in all; the
# image's preinst.d keeps the builds (same headers), its postinst.d queues.
check "upgrade 1: apt-get install linux-headers-$UPK" apt_logged "$S/up1a" "linux-headers-$UPK"
check "  each module built once" builds_each "$S/up1a" 1
check "upgrade 1: then apt-get install linux-image-$UPK" apt_logged "$S/up1b" "linux-image-$UPK"
check "  nothing unbuilt by preinst.d, nothing rebuilt" builds_each "$S/up1b" 0
check "  no 'removing module' line" lacks "$(cat "$S/up1b")" "dkms: removing module"
check "  the modules are installed for $UPK" installed_all
for m in $UP_MODS; do up_builds[1 $m]=$(($(builds "$S/up1a" "$m") + $(builds "$S/up1b" "$m"))); done
up_secs[1]="$(trigger_seconds "$S/up1a") + $(trigger_seconds "$S/up1b")"

# 2 and 4: image and headers in one transaction; v4l2loopback listed for
# the initramfs is in the new kernel's.
forget_kernel
mkdir -p /etc/initramfs-tools
echo v4l2loopback >>/etc/initramfs-tools/modules
check "upgrade 2: apt-get install linux-image-$UPK linux-headers-$UPK (one run)" \
    apt_logged "$S/up2" "linux-image-$UPK" "linux-headers-$UPK"
check "  each module built exactly once" builds_each "$S/up2" 1
check "  installed" installed_all
check "  dkms status --verify -k $UPK passes" dkms status --verify -k "$UPK"
check "  no error output" no_errors "$S/up2"
for m in $UP_MODS; do up_builds[2 $m]=$(builds "$S/up2" "$m"); done
up_secs[2]=$(trigger_seconds "$S/up2")
if command -v lsinitramfs >/dev/null && [[ -f /boot/initrd.img-$UPK ]]; then
    check "upgrade 4: v4l2loopback is inside initrd.img-$UPK" \
        contains "$(lsinitramfs "/boot/initrd.img-$UPK")" "v4l2loopback.ko"
else
    echo "check-deb: no initramfs-tools or no /boot/initrd.img-$UPK: scenario 4 skipped"
fi
sed -i '/^v4l2loopback$/d' /etc/initramfs-tools/modules
# The same modules, by hand, for the time comparison.
# The same modules, by hand, for the time comparison (prerm.d by hand
# uninstalls and unbuilds them).
/etc/kernel/prerm.d/dkms "$UPK" >/dev/null 2>&1
t0=$(date +%s.%N)
check "  dkms autoinstall -k $UPK by hand (the time to compare with)" dkms autoinstall -k "$UPK"
up_secs[hand]=$(awk -v a="$t0" -v b="$(date +%s.%N)" 'BEGIN { printf "%.1f", b - a }')
check "  the transaction's dkms part (${up_secs[2]}s) <= 1.1 x autoinstall by hand (${up_secs[hand]}s)" \
    awk -v a="${up_secs[2]}" -v b="${up_secs[hand]}" 'BEGIN { exit !(a <= 1.1 * b) }'

# 3: the image first, then the headers, in two apt runs.
forget_kernel
check "upgrade 3: apt-get install linux-image-$UPK (no headers)" apt_logged "$S/up3a" "linux-image-$UPK"
check "  one line: waiting for its headers" test "$(grep -c "dkms: kernel $UPK: modules not built yet" "$S/up3a")" = 1
check "  no failure" no_errors "$S/up3a"
check "  nothing built" builds_each "$S/up3a" 0
check "  no failure record" lacks "$(dkms status --json -k "$UPK")" '"type":"failed"'
check "upgrade 3: then apt-get install linux-headers-$UPK" apt_logged "$S/up3b" "linux-headers-$UPK"
check "  each module built once" builds_each "$S/up3b" 1
check "  installed" installed_all
for m in $UP_MODS; do up_builds[3 $m]=$(($(builds "$S/up3a" "$m") + $(builds "$S/up3b" "$m"))); done
up_secs[3]="$(trigger_seconds "$S/up3a") + $(trigger_seconds "$S/up3b")"
forget_kernel

# 5: a module that fails to build (made here, added to DKMS directly so
# that no half-configured package stands in apt's way): built once per
# transaction, not again by a second trigger with the same inputs, again by
# hand; kernel_hook_on_failure=fail fails the apt run.
mkmod upbroken "" broken
dkms add upbroken/1.0 >/dev/null
UP_MODS="upbroken"
check "upgrade 5: apt-get install linux-image-$UPK linux-headers-$UPK, a module fails: exit 0 (report)" \
    apt_logged "$S/up5a" "linux-image-$UPK" "linux-headers-$UPK"
check "  the failing module built once" builds_each "$S/up5a" 1
check "  the closing block names it" contains "$(cat "$S/up5a")" "FAILED to build/install for kernel $UPK"
check "upgrade 5: apt-get install --reinstall linux-headers-$UPK (a second trigger)" \
    apt_logged "$S/up5b" --reinstall "linux-headers-$UPK"
check "  not built again, one line naming its log" \
    test "$(builds "$S/up5b" upbroken)$(grep -c "dkms log upbroken/1.0 -k $UPK" "$S/up5b")" = 01
step "  dkms autoinstall -k $UPK by hand builds it again: exit 11" 11 dkms autoinstall -k "$UPK"
check "    and built it" contains "$(out)" "Building module(s)"
touch /usr/src/upbroken-1.0/upbroken.c
echo 'kernel_hook_on_failure=fail' >/etc/dkms/framework.conf.d/check-deb.conf
step "upgrade 5: kernel_hook_on_failure=fail, changed sources: the apt run fails" 100 \
    apt_logged "$S/up5c" --reinstall "linux-headers-$UPK"
rm /etc/dkms/framework.conf.d/check-deb.conf
check "  dpkg --configure -a configures dkms-rs afterwards" dpkg --configure -a
UP_MODS="v4l2loopback acpi-call"
dkms remove upbroken/1.0 --all >/dev/null 2>&1 || true
rm -rf /usr/src/upbroken-1.0
forget_kernel

echo "check-deb: kernel upgrade scenarios for $UPK (builds per module; seconds in dkms's trigger):"
for n in 1 2 3; do
    line="  scenario $n:"
    for m in $UP_MODS; do line+=" $m ${up_builds[$n $m]-?}"; done
    echo "$line; dkms ${up_secs[$n]}s"
done
echo "  dkms autoinstall -k $UPK by hand: ${up_secs[hand]}s"
