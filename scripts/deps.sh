#!/usr/bin/env bash
# Install what building, testing and the demo need on Debian/Ubuntu, if it is
# missing: a Rust toolchain (rustup) and the Debian packages dkms drives
# (make, gcc, kmod, openssl, patch, xz-utils, zstd) plus kernel headers, and
# zsh and fish for the completion tests, bubblewrap for the build sandbox,
# lintian and reprepro for the prebuilt module packages (cache deb), tmux
# for the tests of the live progress lines on a terminal, docker-registry,
# skopeo and htpasswd (apache2-utils) for the OCI cache tests and
# busybox-static for cache kmm's images (the registry's own service is kept
# from starting: tests start their own).
set -euo pipefail
pkgs=()
for p in make:make gcc:gcc modinfo:kmod openssl:openssl patch:patch xz:xz-utils zstd:zstd curl:curl bash:bash jq:jq zsh:zsh fish:fish bwrap:bubblewrap setpriv:util-linux man:man-db lintian:lintian reprepro:reprepro tmux:tmux docker-registry:docker-registry skopeo:skopeo htpasswd:apache2-utils busybox:busybox-static; do
    command -v "${p%%:*}" >/dev/null 2>&1 || pkgs+=("${p#*:}")
done
have_headers=
for d in /lib/modules/*/build; do [[ -e $d/include ]] && have_headers=1; done
[[ $have_headers ]] || pkgs+=("linux-headers-$(dpkg --print-architecture 2>/dev/null || echo amd64)")
if ((${#pkgs[@]})); then
    if [[ $(id -u) = 0 ]] && command -v apt-get >/dev/null; then
        echo "deps: installing ${pkgs[*]}"
        export DEBIAN_FRONTEND=noninteractive
        # No service starts during the install (docker-registry's would
        # listen on :5000); a policy of our own only where there is none.
        policy=
        if [[ ! -e /usr/sbin/policy-rc.d ]]; then
            printf '#!/bin/sh\nexit 101\n' >/usr/sbin/policy-rc.d && chmod +x /usr/sbin/policy-rc.d && policy=1
        fi
        apt-get install -y -q "${pkgs[@]}" >/dev/null || { apt-get update -q >/dev/null && apt-get install -y -q "${pkgs[@]}" >/dev/null; }
        [[ $policy ]] && rm -f /usr/sbin/policy-rc.d
        systemctl disable --now docker-registry >/dev/null 2>&1 || true
    else
        echo "deps: missing ${pkgs[*]} (run as root to install them with apt-get)" >&2
    fi
fi
if ! command -v cargo >/dev/null 2>&1 && [[ ! -x $HOME/.cargo/bin/cargo ]]; then
    echo "deps: installing the Rust toolchain with rustup"
    curl -sSf https://sh.rustup.rs | sh -s -- -y --profile minimal -c clippy -c rustfmt >/dev/null
fi
