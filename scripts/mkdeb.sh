#!/bin/sh
# Make a .deb of dkms-rs from a staged `make install install-debian
# DESTDIR=ROOT PREFIX=/usr sysconfdir=/etc`: writes ROOT/DEBIAN (control,
# conffiles, md5sums, postinst, postrm, triggers) and runs dpkg-deb.
# Usage: scripts/mkdeb.sh ROOT VERSION ARCH OUTPUT.deb
set -eu

root=$1
version=$2
arch=$3
out=$4
here=$(cd "$(dirname "$0")/.." && pwd)

[ -x "$root/usr/sbin/dkms" ] || { echo "mkdeb: $root holds no staged install" >&2; exit 1; }

# The verbs are one multicall binary that runs as the verb its name says:
# in the package, relative symlinks to it rather than the hardlinks make
# install makes (lintian: package-contains-hardlink).
for f in "$root"/usr/libexec/dkms/dkms-*; do
    rm -f "$f"
    ln -s ../../sbin/dkms "$f"
done
# Debug symbols stay out of the package, as dh_strip does.
strip --strip-unneeded --remove-section=.comment "$root/usr/sbin/dkms"

# Debian's documentation layout: man pages compressed (gzip -9n, no time
# stamp, so builds are reproducible), the copyright file and the changelog
# of this native package.
find "$root/usr/share/man" -type f -name '*.[0-9]' -exec gzip -9nf {} +
doc="$root/usr/share/doc/dkms-rs"
install -Dm644 "$here/data/deb/copyright" "$doc/copyright"
gzip -9nc "$here/data/deb/changelog" > "$doc/changelog.gz"
chmod 644 "$doc/changelog.gz"
install -Dm644 "$here/data/deb/lintian-overrides" "$root/usr/share/lintian/overrides/dkms-rs"

# The shared libraries the binary links (libc6, libgcc-s1), as dh_shlibdeps
# finds them; dpkg-shlibdeps wants a debian/control to run in.
shlibs=$(
    tmp=$(mktemp -d)
    trap 'rm -rf "$tmp"' EXIT
    mkdir "$tmp/debian"
    printf 'Source: dkms-rs\n\nPackage: dkms-rs\nArchitecture: any\n' > "$tmp/debian/control"
    bin=$(readlink -f "$root/usr/sbin/dkms")
    cd "$tmp" && dpkg-shlibdeps -O -e"$bin" 2>/dev/null | sed -n 's/^shlibs:Depends=//p'
)

mkdir -p "$root/DEBIAN"
size=$(du -sk --exclude=DEBIAN "$root" | cut -f1)
cat > "$root/DEBIAN/control" <<CONTROL
Package: dkms-rs
Version: $version
Architecture: $arch
Maintainer: dkms-rs developers <dkms-rs@users.noreply.github.com>
Installed-Size: $size
Depends: ${shlibs:+$shlibs, }kmod, make, gcc, openssl, patch
Recommends: linux-headers-amd64 | linux-headers-generic | linux-headers, xz-utils, zstd
Suggests: bubblewrap
Provides: dkms (= $version), dkms-autopkgtest (= $version)
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
# The kernel hooks queue kernels and activate this trigger inside a dpkg
# run; the postinst builds them when it fires (README, "Kernel upgrades
# under dpkg"). noawait: the kernel packages do not wait for it to be
# configured.
install -m 755 "$here/data/deb/postinst" "$root/DEBIAN/postinst"
echo "interest-noawait dkms-rs-kernels" > "$root/DEBIAN/triggers"
chmod 644 "$root/DEBIAN/triggers"

dpkg-deb --root-owner-group -Zxz --build "$root" "$out"
