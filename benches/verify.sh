#!/bin/bash
# Time of `dkms status` and `dkms status --verify` on a synthetic tree of N
# module/versions x 3 kernels (default 100), two modules each, every build
# installed (as benches/bench.sh builds its status tree), the module files
# real ELF objects whose .modinfo holds the kernel's vermagic, and each
# kernel's modules.dep listing them, so every check of --verify runs (no
# signing: the fake kernels have no config). Prints the median of ROUNDS
# (3) warm runs of each, and checks that --verify exits 0 and prints what
# plain status prints. Environment: DKMS (default target/release/dkms),
# VERIFY_MODULES (100), VERIFY_ROUNDS (3).
set -euo pipefail
export LC_ALL=C
here=$(cd "$(dirname "$0")/.." && pwd)
DKMS=${DKMS:-$here/target/release/dkms}
N=${VERIFY_MODULES:-100}
ROUNDS=${VERIFY_ROUNDS:-3}
KERNELS=(6.1.0-901-bench 6.1.0-902-bench 6.1.0-903-bench)
ARCH=$(uname -m)
work=$(mktemp -d "${TMPDIR:-/tmp}/dkms-verify-bench.XXXXXX")
trap 'rm -rf "$work"' EXIT
mkdir -p "$work/etc/dkms" "$work/tmp" "$work/ko" "$work/dkms" "$work/src" "$work/inst"
: >"$work/etc/dkms/framework.conf"
export TMPDIR=$work/tmp DKMS_SYSCONFDIR=$work/etc
cat >"$work/ko/t.c" <<'EOF'
#define MI(n, s) static const char n[] __attribute__((section(".modinfo"), used, aligned(1))) = s
MI(a, "version=VVVVVVVVVVVV");
MI(b, "license=GPL");
MI(c, "srcversion=SSSSSSSSSSSSSSSSSSSSSSSS");
MI(d, "name=NNNNNNNNNNNNNNNNNNNNNNNN");
MI(e, "vermagic=KKKKKKKKKKKKKKK SMP preempt mod_unload modversions ");
EOF
gcc -c -O2 "$work/ko/t.c" -o "$work/ko/template.ko"
pad() { printf "%-${2}s" "$1" | tr ' ' _; }
for k in "${KERNELS[@]}"; do mkdir -p "$work/inst/$k/updates/dkms"; done
for ((i = 0; i < N; i++)); do
    m=$(printf 'bench%04d' "$i") v="1.$i"
    src=$work/src/$m-$v
    mkdir -p "$src" "$work/dkms/$m/$v"
    printf 'PACKAGE_NAME="%s"\nPACKAGE_VERSION="%s"\nBUILT_MODULE_NAME[0]="%s_a"\nDEST_MODULE_LOCATION[0]="/updates/dkms"\nBUILT_MODULE_NAME[1]="%s_b"\nDEST_MODULE_LOCATION[1]="/updates/dkms"\nAUTOINSTALL="yes"\n' \
        "$m" "$v" "$m" "$m" >"$src/dkms.conf"
    ln -s "$src" "$work/dkms/$m/$v/source"
    for j in a b; do
        name=${m}_$j
        for k in "${KERNELS[@]}"; do
            mkdir -p "$work/dkms/$m/$v/$k/$ARCH/module"
            sed -e "s/VVVVVVVVVVVV/$(pad "$v" 12)/" -e "s/SSSSSSSSSSSSSSSSSSSSSSSS/$(printf '%024X' $((i * 2 + ${#j})))/" \
                -e "s/NNNNNNNNNNNNNNNNNNNNNNNN/$(pad "$name" 24)/" -e "s/KKKKKKKKKKKKKKK/$k/" \
                "$work/ko/template.ko" >"$work/dkms/$m/$v/$k/$ARCH/module/$name.ko"
            cp "$work/dkms/$m/$v/$k/$ARCH/module/$name.ko" "$work/inst/$k/updates/dkms/$name.ko"
            echo "updates/dkms/$name.ko:" >>"$work/inst/$k/modules.dep"
        done
    done
    for k in "${KERNELS[@]}"; do ln -s "$work/dkms/$m/$v/$k/$ARCH" "$work/dkms/$m/kernel-$k-$ARCH"; done
done
run() { "$DKMS" "$@" --dkmstree "$work/dkms" --sourcetree "$work/src" --installtree "$work/inst" </dev/null; }
secs() { local t0 t1; t0=$(date +%s.%N); "$@" >"$work/out" 2>&1; t1=$(date +%s.%N); echo "$t1 - $t0" | bc -l; }
median() { printf '%s\n' "$@" | sort -g | sed -n "$((($# + 1) / 2))p"; }
run status >"$work/plain"
run status --verify >"$work/verified" || { echo "verify-bench: --verify failed:" >&2; head "$work/verified" >&2; exit 1; }
cmp -s "$work/plain" "$work/verified" || { echo "verify-bench: --verify output differs from status" >&2; exit 1; }
plain=() verify=()
for ((r = 0; r < ROUNDS; r++)); do
    plain+=("$(secs run status)")
    verify+=("$(secs run status --verify)")
done
printf 'entries: %d (%d modules x %d kernels, %d module files)\n' $((N * 3)) "$N" 3 $((N * 6))
printf 'status:          %.3f s (median of %d)\n' "$(median "${plain[@]}")" "$ROUNDS"
printf 'status --verify: %.3f s (median of %d)\n' "$(median "${verify[@]}")" "$ROUNDS"
