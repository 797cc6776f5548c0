#!/usr/bin/env bash
# Prebuilt module packages (`dkms cache deb`) through real apt, in the
# throw-away root scripts/check-deb.sh makes (check-deb-root.sh: a private
# mount namespace, copy-on-write overlays over /usr, /etc, /var, /lib,
# /boot: the host is never changed): a module is built and installed with
# dkms, where it went is noted, it is packaged and removed from dkms again;
# the package is published with reprepro into a directory served by
# python3 -m http.server on 127.0.0.1 (started and stopped here), that
# repository is added to apt, and apt-get installs <module>-modules-<kernel>
# (with the kernel's image from the archive): the module is where dkms
# install put it, modinfo -k finds it (depmod ran), dkms status is
# unchanged; apt-get purge removes it and depmod runs again. Skipped, saying
# so, without kernel headers or when apt cannot reach the archive (the
# kernel's image comes from there).
# Usage (root): scripts/check-deb-modules.sh dkms-rs.deb | DIR-WITH-dkms
set -euo pipefail
. "$(dirname "$0")/check-deb-root.sh"

if [[ ${1-} != __inner ]]; then
    [[ $# == 1 && -e $1 ]] || { echo "usage: $0 dkms-rs.deb | DIR-WITH-dkms" >&2; exit 2; }
    ((EUID == 0)) || { echo "check-deb-modules: must run as root" >&2; exit 2; }
    reenter_private check-deb-modules "$(readlink -f "$1")"
fi

S=$2
what=$3
export PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
export LC_ALL=C DEBIAN_FRONTEND=noninteractive
require_private check-deb-modules
overlay_host check-deb-modules "$S"

passed=0
failed=0
check() {
    local what=$1 rc=0
    shift
    "$@" >"$S/out" 2>&1 || rc=$?
    if ((rc == 0)); then
        passed=$((passed + 1))
        echo "ok: $what"
    else
        failed=$((failed + 1))
        echo "FAILED: $what (exit $rc)"
        sed 's/^/    /' "$S/out" | tail -n 40
    fi
}
finish() {
    echo "check-deb-modules: $passed passed, $failed failed"
    ((failed == 0))
    exit
}

K=$(newest_kernel)
if [[ -z $K ]]; then
    echo "check-deb-modules: SKIPPED: no kernel headers installed to build against"
    exit 0
fi
if [[ -f $what ]]; then
    check "dpkg -i $(basename "$what")" dpkg -i "$what"
else
    export PATH=$what:$PATH
fi
DKMS=$(command -v dkms)

# A corpus-style module: its make output in a subdirectory
# (BUILT_MODULE_LOCATION), a DEST_MODULE_LOCATION that Debian overrides.
M=cdm_test
src=/usr/src/$M-1.0
mkdir -p "$src/src"
printf 'PACKAGE_NAME=%s\nPACKAGE_VERSION=1.0\nBUILT_MODULE_NAME[0]=%s\nBUILT_MODULE_LOCATION[0]=src/\nDEST_MODULE_LOCATION[0]=/kernel/drivers/misc\nMAKE[0]="make -C $kernel_source_dir M=$dkms_tree/%s/1.0/build/src modules"\n' \
    "$M" "$M" "$M" >"$src/dkms.conf"
printf 'obj-m := %s.o\n' "$M" >"$src/src/Makefile"
printf '#include <linux/module.h>\nMODULE_LICENSE("GPL");\nMODULE_VERSION("1.0");\n' >"$src/src/$M.c"
printf 'cdm_test is free software under the GPL, version 2.\n' >"$src/COPYING"
check "dkms install $M/1.0 -k $K" "$DKMS" install "$M/1.0" -k "$K"
placed=$(find "/lib/modules/$K" -name "$M.ko*" | head -n 1)
check "  installed at $placed" test -n "$placed"
check "dkms cache deb $M/1.0 -k $K --to $S/debs" "$DKMS" cache deb "$M/1.0" -k "$K" --to "$S/debs"
deb=$(ls "$S"/debs/*.deb 2>/dev/null | head -n 1)
pkg=cdm-test-modules-$K
check "  the package is $pkg" test "$(dpkg-deb -f "$deb" Package 2>/dev/null)" = "$pkg"
check "dkms remove $M/1.0 --all (the package is the only copy now)" "$DKMS" remove "$M/1.0" --all
check "  the module is gone" test ! -e "$placed"
status_before=$("$DKMS" status 2>&1)

apt-get update >"$S/apt-update" 2>&1 || true
if grep -q '^[WE]: Failed to fetch' "$S/apt-update" ||
    [[ -z $(apt-cache policy "linux-image-$K" 2>/dev/null | sed -n 's/^ *Candidate: //p' | grep -vx '(none)') ]]; then
    echo "check-deb-modules: apt part SKIPPED: apt cannot reach the archive for linux-image-$K:"
    tail -n 5 "$S/apt-update" | sed 's/^/    /'
    finish
fi

# The repository, published with reprepro and served on 127.0.0.1.
command -v reprepro >/dev/null || apt-get install -y -q reprepro >/dev/null
mkdir -p "$S/repo/conf"
printf 'Codename: dkms-local\nComponents: main\nArchitectures: %s\nDescription: dkms cache deb packages\n' \
    "$(dpkg --print-architecture)" >"$S/repo/conf/distributions"
check "reprepro includedeb dkms-local $(basename "$deb")" reprepro -b "$S/repo" includedeb dkms-local "$deb"
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
python3 -m http.server "$port" --bind 127.0.0.1 --directory "$S/repo" >"$S/http.log" 2>&1 &
server=$!
trap 'kill "$server" 2>/dev/null || true' EXIT
for _ in $(seq 50); do (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null && break; sleep 0.1; done
echo "deb [trusted=yes] http://127.0.0.1:$port dkms-local main" >/etc/apt/sources.list.d/dkms-local.list
check "apt-get update with the local repository" apt-get update
check "apt-get install $pkg (and linux-image-$K from the archive)" \
    apt-get install -y --no-install-recommends "$pkg"
check "  the module is where dkms install put it: $placed" test -f "$placed"
check "  dpkg owns it" dpkg -S "$placed"
check "  modinfo -k $K $M finds it (depmod ran)" test "$(modinfo -k "$K" -F filename "$M" 2>/dev/null)" = "$placed"
check "  dkms status is unchanged" test "$("$DKMS" status 2>&1)" = "$status_before"
check "apt-get purge $pkg" apt-get purge -y "$pkg"
check "  the module is gone" test ! -e "$placed"
check "  modules.dep no longer names it (depmod ran again)" bash -c "! grep -q '/$M.ko' '/lib/modules/$K/modules.dep'"
kill "$server" 2>/dev/null || true
wait "$server" 2>/dev/null || true
finish
