# Kernel upgrades under dpkg (README, "Kernel upgrades under dpkg"), part
# of scripts/check-deb.sh's archive part, sourced by it inside its overlay
# with $GOOD_PKGS installed (uses its step/check helpers, $S): a kernel from
# the archive this machine does not run, its image and headers installed
# with real apt in the orders apt uses. Also defines debian_upgrades, the
# same orders with Debian's dkms for comparison (called by the archive part
# once Debian's dkms is installed in place of ours).
#
# Measured alike for both dkms: builds are counted from a make on PATH
# that notes each top-level make with KERNELRELEASE= (the module from the
# dkms tree path it builds in); the dkms part of a run is the time spent in
# dkms processes started by name (the autoinstaller's `dkms autoinstall`,
# our trigger's `dkms kernel_trigger`, a `dkms autoinstall` by hand),
# through a dkms on PATH that notes when each started and ended, less the
# update-initramfs run inside them (not dkms's work; initramfs-tools' own
# runs are outside them anyway). Our hooks' `kernel_queue` and
# `kernel_preinst` calls name dkms by its path and are not counted (they
# take a few milliseconds: they queue, or compare three header hashes).
# shellcheck shell=bash

UPK=${CHECK_DEB_UPGRADE_KVER:-$HEADERS_KVER}
UP_MODS="v4l2loopback acpi-call"

MEASURE_MAKES=/var/log/check-deb-makes
MEASURE_TIMES=/var/log/check-deb-times
# measure_on / measure_off: the make, dkms and update-initramfs on PATH
# (/usr/local, first on check-deb's PATH) that note builds and times.
measure_on() {
    mkdir -p /usr/local/bin /usr/local/sbin
    : >"$MEASURE_MAKES"
    : >"$MEASURE_TIMES"
    printf '#!/bin/sh\n[ -n "${MAKELEVEL-}" ] || case " $* " in *" KERNELRELEASE="*) echo "$PWD $*" >>%s ;; esac\nexec /usr/bin/make "$@"\n' \
        "$MEASURE_MAKES" >/usr/local/bin/make
    local t
    for t in dkms update-initramfs; do
        printf '#!/bin/bash\n[ -x /usr/sbin/%s ] || exit 127\nt0=$EPOCHREALTIME rc=0\n/usr/sbin/%s "$@" || rc=$?\necho "%s $t0 $EPOCHREALTIME" >>%s\nexit $rc\n' \
            "$t" "$t" "$t" "$MEASURE_TIMES" >"/usr/local/sbin/$t"
    done
    chmod 755 /usr/local/bin/make /usr/local/sbin/dkms /usr/local/sbin/update-initramfs
    hash -r
}
measure_off() {
    rm -f /usr/local/bin/make /usr/local/sbin/dkms /usr/local/sbin/update-initramfs "$MEASURE_MAKES" "$MEASURE_TIMES"
    hash -r
}
# timed LOG CMD...: run CMD, its output (each line prefixed with the time
# it was read, without a fork: $EPOCHREALTIME) into LOG and out; the builds
# and times noted meanwhile into LOG.makes and LOG.times.
timed() {
    local log=$1 rc=0 m t
    shift
    m=$(wc -l <"$MEASURE_MAKES") t=$(wc -l <"$MEASURE_TIMES")
    "$@" 2>&1 | while IFS= read -r l; do printf '%s %s\n' "$EPOCHREALTIME" "$l"; done | tee "$log" || rc=$?
    tail -n +$((m + 1)) "$MEASURE_MAKES" >"$log.makes"
    tail -n +$((t + 1)) "$MEASURE_TIMES" >"$log.times"
    return "$rc"
}
# apt_logged LOG PACKAGE...: apt-get install, timed into LOG. apt runs
# dpkg with PATH set to DPkg::Path (/usr/sbin:/usr/bin:/sbin:/bin): ours,
# so that the maintainer scripts find the measuring make and dkms.
apt_logged() {
    local log=$1
    shift
    timed "$log" apt_install -o "DPkg::Path=$PATH" "$@"
}
# builds LOG MODULE: how often MODULE was built for $UPK in LOG's run.
builds() {
    awk -v m="/var/lib/dkms/$2/" -v k="KERNELRELEASE=$UPK" '
        index($0, m) { for (i = 1; i <= NF; i++) if ($i == k) { n++; break } }
        END { print n + 0 }' "$1.makes"
}
# builds_each LOG N: every module of $UP_MODS built N times in LOG.
builds_each() {
    local m
    for m in $UP_MODS; do
        [[ $(builds "$1" "$m") == "$2" ]] || { echo "$m built $(builds "$1" "$m") times, not $2"; return 1; }
    done
}
# dkms_seconds LOG: the time LOG's run spent in dkms, less the
# update-initramfs runs inside it.
dkms_seconds() {
    awk '$1 == "dkms" { n++; s[n] = $2; e[n] = $3; t += $3 - $2 }
         $1 == "update-initramfs" { m++; is[m] = $2; ie[m] = $3 }
         END {
             for (i = 1; i <= n; i++) for (j = 1; j <= m; j++) {
                 a = (s[i] > is[j]) ? s[i] : is[j]; b = (e[i] < ie[j]) ? e[i] : ie[j]
                 if (b > a) t -= b - a
             }
             printf "%.1f\n", t
         }' "$1.times"
}
# errors_under_own_heading LOG MODULE: LOG has MODULE's build error
# (upstream's "Error! Bad return status" and "Consult" lines), and every
# such line is under MODULE's "Autoinstall of module" heading.
errors_under_own_heading() {
    awk -v m="$2" '
        / Autoinstall of module / { cur = $0; sub(/.* Autoinstall of module /, "", cur); sub("/.*", "", cur) }
        / Error! Bad return status/ || / Consult .*make\.log/ {
            n++
            if (cur != m || (/ Consult / && index($0, "/" m "/") == 0)) { bad++; print "under " cur ": " $0 }
        }
        END { exit !(n >= 2 && bad == 0) }' "$1"
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
declare -A up_builds up_secs deb_builds deb_secs
# add_secs SECONDS...: their sum, one decimal.
add_secs() { awk 'BEGIN { for (i = 1; i < ARGC; i++) t += ARGV[i]; printf "%.1f\n", t }' "$@"; }

# two_runs N FIRST NOTE SECOND: scenario N of upgrade_scenarios (called
# from it: its _builds, _secs and who), the kernel's packages in two apt
# runs: apt-get install FIRST (NOTE after it in the check's name), logged
# in $S/upNa, then SECOND, in $S/upNb; the modules end up installed; each
# module's builds and the dkms part's seconds of the two runs together
# noted under N; with our dkms, then ours_N.
two_runs() {
    local n=$1 first=$2 note=$3 second=$4 m
    forget_kernel
    check "upgrade $n$who: apt-get install $first$note" apt_logged "$S/up${n}a" "$first"
    check "upgrade $n$who: then apt-get install $second" apt_logged "$S/up${n}b" "$second"
    check "  the modules are installed for $UPK" installed_all
    for m in $UP_MODS; do _builds[$n $m]=$(($(builds "$S/up${n}a" "$m") + $(builds "$S/up${n}b" "$m"))); done
    _secs[$n]=$(add_secs "$(dkms_seconds "$S/up${n}a")" "$(dkms_seconds "$S/up${n}b")")
    [[ -n $who ]] || "ours_$n"
}

# upgrade_scenarios BUILDS SECS: scenarios 1-3 with whichever dkms is
# installed, each module's builds and the dkms part's seconds noted in the
# associative arrays named BUILDS and SECS; the checks that hold for any
# dkms (the apt runs succeed, the modules end up installed). The checks of
# our own promises follow each scenario (ours_1, ours_2, ours_3).
upgrade_scenarios() {
    local -n _builds=$1 _secs=$2
    local m who=${3-}
    two_runs 1 "linux-headers-$UPK" "" "linux-image-$UPK"

    forget_kernel
    mkdir -p /etc/initramfs-tools
    echo v4l2loopback >>/etc/initramfs-tools/modules
    check "upgrade 2$who: apt-get install linux-image-$UPK linux-headers-$UPK (one run)" \
        apt_logged "$S/up2" "linux-image-$UPK" "linux-headers-$UPK"
    check "  installed" installed_all
    for m in $UP_MODS; do _builds[2 $m]=$(builds "$S/up2" "$m"); done
    _secs[2]=$(dkms_seconds "$S/up2")
    sed -i '/^v4l2loopback$/d' /etc/initramfs-tools/modules
    # The same modules, by hand, for the time comparison (prerm.d by hand
    # uninstalls and unbuilds them).
    /etc/kernel/prerm.d/dkms "$UPK" >/dev/null 2>&1
    check "  dkms autoinstall -k $UPK by hand (the time to compare with)" timed "$S/hand" dkms autoinstall -k "$UPK"
    _secs[hand]=$(dkms_seconds "$S/hand")
    [[ -n $who ]] || ours_2

    two_runs 3 "linux-image-$UPK" " (no headers)" "linux-headers-$UPK"
    forget_kernel
}

# 1: headers, then the image: built once in all; the image's preinst.d
# keeps the builds (same headers), its postinst.d queues.
ours_1() {
    check "  each module built once by the headers' run" builds_each "$S/up1a" 1
    check "  nothing unbuilt by the image's preinst.d, nothing rebuilt" builds_each "$S/up1b" 0
    check "  no 'removing module' line" lacks "$(cat "$S/up1b")" "dkms: removing module"
}
# 2 and 4: image and headers in one transaction: built once, verified, no
# error, v4l2loopback (listed for the initramfs) in the new kernel's
# initramfs; the dkms part within 1.1 x an autoinstall by hand.
ours_2() {
    check "  each module built exactly once" builds_each "$S/up2" 1
    check "  dkms status --verify -k $UPK passes" dkms status --verify -k "$UPK"
    check "  no error output" no_errors "$S/up2"
    if command -v lsinitramfs >/dev/null && [[ -f /boot/initrd.img-$UPK ]]; then
        check "upgrade 4: v4l2loopback is inside initrd.img-$UPK" \
            contains "$(lsinitramfs "/boot/initrd.img-$UPK")" "v4l2loopback.ko"
    else
        echo "check-deb: no initramfs-tools or no /boot/initrd.img-$UPK: scenario 4 skipped"
    fi
    check "  the transaction's dkms part (${up_secs[2]}s) <= 1.1 x autoinstall by hand (${up_secs[hand]}s)" \
        awk -v a="${up_secs[2]}" -v b="${up_secs[hand]}" 'BEGIN { exit !(a <= 1.1 * b) }'
}
# 3: the image first, then the headers: one line, no failure; then built once.
ours_3() {
    check "  the image's run: one line, waiting for its headers" \
        test "$(grep -c "dkms: kernel $UPK: modules not built yet" "$S/up3a")" = 1
    check "  no failure" no_errors "$S/up3a"
    check "  nothing built by the image's run" builds_each "$S/up3a" 0
    check "  each module built once by the headers' run" builds_each "$S/up3b" 1
}

# 5: a module that fails to build, from the archive: librem-ec-acpi-dkms
# (-Werror=incompatible-pointer-types against 6.1.0-*), installed as
# Debian's dkms-autopkgtest installs one (/etc/dkms/no-autoinstall in place,
# so its postinst does not build and the package stays configured), added
# as its postinst would. Built once per transaction, each module's text
# under its own heading in apt's output; not again by a second trigger
# with the same inputs (one line naming its log), again by hand;
# kernel_hook_on_failure=fail fails the apt run.
broken_module_scenario() {
    local mod=librem_ec_acpi ver
    : >/etc/dkms/no-autoinstall
    check "upgrade 5: apt-get install $BAD_PKG with /etc/dkms/no-autoinstall" apt_install "$BAD_PKG"
    rm /etc/dkms/no-autoinstall
    check "  $BAD_PKG is configured (ii)" test "$(dpkg-query -W -f='${db:Status-Abbrev}' "$BAD_PKG")" = "ii "
    ver=$(sed -n 's/^PACKAGE_VERSION="*\([^"]*\)"*$/\1/p' /usr/src/$mod-*/dkms.conf | head -n 1)
    check "  dkms add $mod/$ver (as its postinst would)" dkms add "$mod/$ver"
    forget_kernel
    # The archive part's hook run failed $mod for this kernel with the
    # same files (the package's mtimes): that memory would skip it here.
    rm -rf "/var/lib/dkms/.failures/$mod"
    UP_MODS=$mod
    check "upgrade 5: apt-get install linux-image-$UPK linux-headers-$UPK, $mod fails: exit 0 (report)" \
        apt_logged "$S/up5a" "linux-image-$UPK" "linux-headers-$UPK"
    check "  $mod built once" builds_each "$S/up5a" 1
    check "  the closing block names it" contains "$(cat "$S/up5a")" "  $mod/$ver (.*): build-failed"
    check "  its Error!/Consult lines are under its own heading" errors_under_own_heading "$S/up5a" "$mod"
    UP_MODS="v4l2loopback acpi-call"
    check "  the other modules are built and installed" installed_all
    UP_MODS=$mod
    check "upgrade 5: apt-get install --reinstall linux-headers-$UPK (a second trigger)" \
        apt_logged "$S/up5b" --reinstall "linux-headers-$UPK"
    check "  not built again, one line naming its log and how to retry" \
        test "$(builds "$S/up5b" $mod)$(grep -c "dkms log $mod/$ver -k $UPK); retry with: dkms autoinstall -k $UPK" "$S/up5b")" = 01
    step "  dkms autoinstall -k $UPK by hand builds it again: exit 11" 11 timed "$S/up5h" dkms autoinstall -k "$UPK"
    check "    and built it" builds_each "$S/up5h" 1
    touch /usr/src/$mod-$ver/$mod.c
    echo 'kernel_hook_on_failure=fail' >/etc/dkms/framework.conf.d/check-deb.conf
    step "upgrade 5: kernel_hook_on_failure=fail, changed sources: the apt run fails" 100 \
        apt_logged "$S/up5c" --reinstall "linux-headers-$UPK"
    check "  built it again, once" builds_each "$S/up5c" 1
    rm /etc/dkms/framework.conf.d/check-deb.conf
    check "  dpkg --configure -a configures dkms-rs afterwards" dpkg --configure -a
    UP_MODS="v4l2loopback acpi-call"
    check "apt-get purge $BAD_PKG" apt-get purge -y "$BAD_PKG"
    forget_kernel
}

# debian_upgrades: scenarios 1-3 with Debian's dkms (installed by the
# caller in place of ours, with $GOOD_PKGS), then the table of both.
debian_upgrades() {
    [[ -n ${up_secs[hand]-} ]] || return 0
    measure_on
    upgrade_scenarios deb_builds deb_secs " (Debian's dkms)"
    measure_off
    upgrade_table
}

# The scenario table: builds per module and the dkms part's seconds, ours
# and Debian's.
upgrade_table() {
    local n m line
    echo "check-deb: kernel upgrade scenarios for $UPK, ours vs Debian's dkms $(dpkg-query -W -f='${Version}' dkms 2>/dev/null)"
    echo "  (builds per module; wall seconds in dkms, update-initramfs excluded):"
    printf '  %-32s %-36s %s\n' scenario "builds per module (ours / Debian's)" "dkms seconds (ours / Debian's)"
    for n in 1 2 3; do
        line=
        for m in $UP_MODS; do line+="$m ${up_builds[$n $m]-?}/${deb_builds[$n $m]-?} "; done
        printf '  %-32s %-36s %s / %s\n' "$n: ${up_names[$n]}" "$line" "${up_secs[$n]-?}" "${deb_secs[$n]-?}"
    done
    printf '  %-32s %-36s %s / %s\n' "autoinstall -k K by hand" "" "${up_secs[hand]-?}" "${deb_secs[hand]-?}"
}
declare -A up_names=([1]="headers, then image" [2]="image + headers, one run" [3]="image, then headers")

if [[ -z $(candidate "linux-image-$UPK") || -z $(candidate "linux-headers-$UPK") ]]; then
    echo "check-deb: linux-image-$UPK or linux-headers-$UPK not in the archive: kernel upgrade scenarios skipped"
    return 0
fi
measure_on
upgrade_scenarios up_builds up_secs
if [[ -n $(candidate "$BAD_PKG") ]]; then
    broken_module_scenario
else
    echo "check-deb: $BAD_PKG not in the archive: scenario 5 skipped"
fi
measure_off
upgrade_table
