#!/usr/bin/env bash
# The demo: add, build and install the example module shipped in
# examples/dkms_hello-1.0 against the installed kernel headers, into a
# private tree under build/demo/ (dkms tree, source tree, module tree and
# configuration), then show `dkms status`. Nothing outside build/ changes.
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
dkms=${DKMS:-$top/target/release/dkms}
demo=$top/build/demo
kver=
for d in "/lib/modules/$(uname -r)/build" /lib/modules/*/build; do
    if [[ -e $d/include ]]; then kver=$(basename "$(dirname "$d")"); break; fi
done
[[ $kver ]] || { echo "demo: no kernel headers found in /lib/modules/*/build; run scripts/deps.sh as root" >&2; exit 1; }

rm -rf "$demo"
mkdir -p "$demo"/{dkms,src,modules/"$kver",etc/dkms/framework.conf.d}
ln -s "$(readlink -f "/lib/modules/$kver/build")" "$demo/modules/$kver/build"
# A private signing key pair instead of /var/lib/dkms/mok.{key,pub}.
cat > "$demo/etc/dkms/framework.conf" <<CONF
mok_signing_key="$demo/mok.key"
mok_certificate="$demo/mok.pub"
CONF
cp -a "$top/examples/dkms_hello-1.0" "$demo/src/"
export DKMS_SYSCONFDIR=$demo/etc
trees=(--dkmstree "$demo/dkms" --sourcetree "$demo/src" --installtree "$demo/modules")

run() { echo "\$ dkms $*"; "$dkms" "$@" "${trees[@]}"; echo; }
run add -m dkms_hello -v 1.0
run build -m dkms_hello -v 1.0 -k "$kver"
if [[ $(id -u) = 0 ]]; then
    run install -m dkms_hello -v 1.0 -k "$kver"
    ls -l "$demo/modules/$kver/updates/dkms/"
    echo
else
    echo "(install needs root, as with upstream dkms: run 'sudo make demo' to see it)"
    echo
fi
run status
modinfo "$demo/dkms/dkms_hello/1.0/$kver/$(uname -m)/module/dkms_hello.ko"* | grep -E '^(filename|version|description|sig_id|signer):' || true
echo "demo: everything lives in $demo"
