#!/bin/sh
# Make a .deb of dkms-rs from a staged `make install install-debian
# DESTDIR=ROOT PREFIX=/usr sysconfdir=/etc`: writes ROOT/DEBIAN (control,
# conffiles, md5sums, postrm) and runs dpkg-deb.
# Usage: scripts/mkdeb.sh ROOT VERSION ARCH OUTPUT.deb
set -eu

root=$1
version=$2
arch=$3
out=$4
here=$(cd "$(dirname "$0")/.." && pwd)

[ -x "$root/usr/sbin/dkms" ] || { echo "mkdeb: $root holds no staged install" >&2; exit 1; }

# Debug symbols stay out of the package, as dh_strip does.
for f in "$root/usr/sbin/dkms" "$root"/usr/libexec/dkms/dkms-*; do
    strip --strip-unneeded "$f"
done

mkdir -p "$root/DEBIAN"
size=$(du -sk --exclude=DEBIAN "$root" | cut -f1)
cat > "$root/DEBIAN/control" <<CONTROL
Package: dkms-rs
Version: $version
Architecture: $arch
Maintainer: dkms-rs developers <dkms-rs@localhost>
Installed-Size: $size
Depends: kmod, make, gcc, openssl, patch
Recommends: xz-utils, zstd
Suggests: bubblewrap
Provides: dkms (= $version)
Conflicts: dkms
Replaces: dkms
Section: kernel
Priority: optional
Description: Dynamic Kernel Module Support, a compatible reimplementation in Rust
 dkms keeps out-of-tree kernel modules built, signed and installed for every
 kernel on the system. This package is a drop-in replacement for upstream
 DKMS $version: the same actions, options, dkms.conf and framework.conf,
 on-disk layout, messages and exit statuses, plus a lock on the DKMS tree,
 atomic state changes and JSON output.
CONTROL

# Every file under /etc is a configuration file dpkg must not overwrite.
(cd "$root" && find etc -type f | sort | sed 's|^|/|') > "$root/DEBIAN/conffiles"
(cd "$root" && find . -path ./DEBIAN -prune -o -type f -print | sed 's|^\./||' | sort | xargs md5sum) \
    > "$root/DEBIAN/md5sums"
install -m 755 "$here/data/deb/postrm" "$root/DEBIAN/postrm"

dpkg-deb --root-owner-group -Zxz --build "$root" "$out"
