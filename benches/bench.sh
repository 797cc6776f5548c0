#!/bin/bash
# Benchmark of our dkms against upstream's bash dkms (when present), run by
# `make bench`. Both run in the same invocation of this script, alternating,
# on the same synthetic trees, with /etc/dkms replaced by a private copy for
# both (ours: DKMS_SYSCONFDIR; upstream: a sed-patched copy, as the CLI tests
# do), so the host's /etc/dkms never matters.
#
#   (a) `dkms status` on a tree of N module/versions x 3 kernels, every build
#       installed, two modules each (real ELF .ko files with a .modinfo
#       section, installed copies under <installtree>/<kver>/updates/dkms);
#       ours cold (empty conf cache) and warm; upstream on the full tree or,
#       with BENCH_UPSTREAM_MODULES smaller than N, on a scaled-down tree
#       with the ratio computed per entry (and labelled so).
#   (c) start-up: `dkms --version` and `dkms status` on an empty tree.
#   Sizes of the release binaries (hardlinks counted once).
#
# Environment: DKMS (ours, default target/release/dkms), UPSTREAM (default
# ../shared/conformance/upstream/built/dkms; empty to skip), BENCH_MODULES
# (600), BENCH_UPSTREAM_MODULES (default BENCH_MODULES), BENCH_ROUNDS (3),
# BENCH_UPSTREAM_ROUNDS (1: upstream needs minutes per status on 600 x 3),
# BENCH_STARTUP_ITERS (200), BENCH_DIR (a temporary directory).
set -euo pipefail
export LC_ALL=C

here=$(cd "$(dirname "$0")/.." && pwd)
DKMS=${DKMS:-$here/target/release/dkms}
UPSTREAM=${UPSTREAM-$here/../shared/conformance/upstream/built/dkms}
N=${BENCH_MODULES:-600}
NU=${BENCH_UPSTREAM_MODULES:-$N}
ROUNDS=${BENCH_ROUNDS:-3}
UROUNDS=${BENCH_UPSTREAM_ROUNDS:-1}
ITERS=${BENCH_STARTUP_ITERS:-200}
KERNELS=(6.1.0-901-bench 6.1.0-902-bench 6.1.0-903-bench)
ARCH=$(uname -m)

[[ -x $DKMS ]] || { echo "bench: $DKMS not found (cargo build --release)" >&2; exit 1; }
[[ $UPSTREAM && -f $UPSTREAM ]] || UPSTREAM=
command -v gcc >/dev/null || { echo "bench: gcc is needed to make the .ko files" >&2; exit 1; }

work=${BENCH_DIR:-$(mktemp -d "${TMPDIR:-/tmp}/dkms-bench.XXXXXX")}
[[ ${BENCH_DIR:-} ]] || trap 'rm -rf "$work"' EXIT
mkdir -p "$work/etc/dkms" "$work/tmp" "$work/ko"
: >"$work/etc/dkms/framework.conf"
export TMPDIR=$work/tmp
# Ours reads <DKMS_SYSCONFDIR>/dkms and runs the verbs next to $DKMS (not a
# libexec dir baked into a `make release` build).
export DKMS_SYSCONFDIR=$work/etc DKMS_EXEC_PATH
DKMS_EXEC_PATH=$(dirname "$DKMS")
unset BASH_ENV

# Upstream with /etc/dkms replaced by the private sysconf dir.
if [[ $UPSTREAM ]]; then
    sed "s|/etc/dkms|$work/etc/dkms|g" "$UPSTREAM" >"$work/upstream-dkms"
    chmod 755 "$work/upstream-dkms"
    UP=$work/upstream-dkms
fi

# A module template: a relocatable ELF object whose .modinfo section holds
# version=, srcversion= and name=, with fixed-width fields patched per module.
cat >"$work/ko/t.c" <<'EOF'
#define MI(n, s) static const char n[] __attribute__((section(".modinfo"), used, aligned(1))) = s
MI(a, "version=VVVVVVVVVVVV");
MI(b, "license=GPL");
MI(c, "srcversion=SSSSSSSSSSSSSSSSSSSSSSSS");
MI(d, "name=NNNNNNNNNNNNNNNNNNNNNNNN");
MI(e, "description=dkms benchmark module");
EOF
gcc -c -O2 "$work/ko/t.c" -o "$work/ko/template.ko"

pad() { printf "%-${2}s" "$1" | tr ' ' _; }

# make_tree DIR N: N module/versions, each built and installed for 3 kernels.
make_tree() {
    local root=$1 n=$2 i m v k name src j
    mkdir -p "$root/dkms" "$root/src" "$root/inst"
    for k in "${KERNELS[@]}"; do mkdir -p "$root/inst/$k/updates/dkms" "$root/inst/$k/kernel"; done
    for ((i = 0; i < n; i++)); do
        m=$(printf 'bench%04d' "$i")
        v="1.$i"
        src=$root/src/$m-$v
        mkdir -p "$src" "$root/dkms/$m/$v"
        cat >"$src/dkms.conf" <<EOF
PACKAGE_NAME="$m"
PACKAGE_VERSION="$v"
BUILT_MODULE_NAME[0]="${m}_a"
DEST_MODULE_LOCATION[0]="/updates/dkms"
BUILT_MODULE_NAME[1]="${m}_b"
DEST_MODULE_LOCATION[1]="/updates/dkms"
AUTOINSTALL="yes"
EOF
        ln -s "$src" "$root/dkms/$m/$v/source"
        for j in a b; do
            name=${m}_$j
            sed -e "s/version=VVVVVVVVVVVV/version=$(pad "$v" 12)/" \
                -e "s/SSSSSSSSSSSSSSSSSSSSSSSS/$(printf '%024X' $((i * 2 + ${#j})))/" \
                -e "s/NNNNNNNNNNNNNNNNNNNNNNNN/$(pad "$name" 24)/" \
                "$work/ko/template.ko" >"$root/ko.tmp"
            for k in "${KERNELS[@]}"; do
                mkdir -p "$root/dkms/$m/$v/$k/$ARCH/module"
                cp "$root/ko.tmp" "$root/dkms/$m/$v/$k/$ARCH/module/$name.ko"
                cp "$root/ko.tmp" "$root/inst/$k/updates/dkms/$name.ko"
            done
        done
        for k in "${KERNELS[@]}"; do
            ln -s "$root/dkms/$m/$v/$k/$ARCH" "$root/dkms/$m/kernel-$k-$ARCH"
        done
    done
    rm -f "$root/ko.tmp"
}

# run IMPL TREE ARGS...: one invocation, output to TREE/out.IMPL
run() {
    local impl=$1 root=$2
    shift 2
    local prog=$DKMS
    [[ $impl == upstream ]] && prog=$UP
    "$prog" "$@" --dkmstree "$root/dkms" --sourcetree "$root/src" --installtree "$root/inst" \
        >"$root/out.$impl" 2>&1 </dev/null
}

now() { date +%s.%N; }
# secs CMD...: wall seconds of one run
secs() {
    local t0 t1
    t0=$(now)
    "$@"
    t1=$(now)
    echo "$t1 - $t0" | bc -l
}
min() { printf '%s\n' "$@" | sort -g | head -n1; }

echo "Building trees: $N module/versions x ${#KERNELS[@]} kernels (ours)..." >&2
make_tree "$work/big" "$N"
if [[ $UPSTREAM && $NU != "$N" ]]; then
    echo "Building trees: $NU module/versions x ${#KERNELS[@]} kernels (upstream, scaled down)..." >&2
    make_tree "$work/small" "$NU"
    uproot=$work/small
else
    uproot=$work/big
fi
entries=$((N * ${#KERNELS[@]}))
uentries=$((NU * ${#KERNELS[@]}))

# ---- (a) status on the big tree, alternating ours and upstream
cold=() warm=() up=()
for ((r = 0; r < ROUNDS; r++)); do
    rm -rf "$work/big/dkms/.cache"
    cold+=("$(secs run ours "$work/big" status)")
    warm+=("$(secs run ours "$work/big" status)")
    if [[ $UPSTREAM ]] && ((r < UROUNDS)); then
        echo "  round $((r + 1))/$ROUNDS: upstream status on $uentries entries (minutes)..." >&2
        up+=("$(secs run upstream "$uproot" status)")
    fi
done
lines=$(wc -l <"$work/big/out.ours")
[[ $lines == "$entries" ]] || { echo "bench: ours printed $lines lines, expected $entries" >&2; exit 1; }
if grep -v ': installed$' "$work/big/out.ours" | head -n3 | grep .; then
    echo "bench: unexpected status lines (above)" >&2
    exit 1
fi
if [[ $UPSTREAM && $uproot == "$work/big" ]] && ! cmp -s "$work/big/out.ours" "$work/big/out.upstream"; then
    echo "bench: ours and upstream differ on the big tree" >&2
    diff "$work/big/out.ours" "$work/big/out.upstream" | head >&2
    exit 1
fi

# Bash processes started by one warm and one cold status (strace, if present).
bash_count() {
    command -v strace >/dev/null || { echo "n/a"; return; }
    strace -f -qq -z -e trace=execve -o "$work/strace" \
        "$DKMS" status --dkmstree "$work/big/dkms" \
        --sourcetree "$work/big/src" --installtree "$work/big/inst" >/dev/null 2>&1 </dev/null
    grep -c 'execve("[^"]*/bash"' "$work/strace" || true
}
rm -rf "$work/big/dkms/.cache"
bash_cold=$(bash_count)
bash_warm=$(bash_count)
modinfo_warm=n/a
if command -v strace >/dev/null; then modinfo_warm=$(grep -c 'execve("[^"]*/modinfo"' "$work/strace" || true); fi

# ---- (c) start-up
mkdir -p "$work/empty/dkms" "$work/empty/src" "$work/empty/inst"
loop() {
    local impl=$1 n=$2 i
    shift 2
    for ((i = 0; i < n; i++)); do run "$impl" "$work/empty" "$@"; done
}
ms_per() {
    local impl=$1 n=$2 s
    shift 2
    s=$(secs loop "$impl" "$n" "$@")
    echo "$s * 1000 / $n" | bc -l
}
uiters=$((ITERS / 10 > 5 ? ITERS / 10 : 5))
sv=() ss=() uv=() us=()
for ((r = 0; r < ROUNDS; r++)); do
    sv+=("$(ms_per ours "$ITERS" --version)")
    ss+=("$(ms_per ours "$ITERS" status)")
    if [[ $UPSTREAM ]]; then
        uv+=("$(ms_per upstream "$uiters" --version)")
        us+=("$(ms_per upstream "$uiters" status)")
    fi
done

# ---- report
f() { printf '%.3f' "$1"; }
ratio() { [[ $1 && $2 ]] && printf '%.0fx' "$(echo "$1 / $2" | bc -l)" || echo "-"; }
c=$(min "${cold[@]}")
w=$(min "${warm[@]}")
echo
echo "dkms benchmark (best of $ROUNDS rounds, upstream status: $UROUNDS; ours: $DKMS)"
printf '%-44s %12s %12s %10s\n' "workload" "ours" "upstream" "ratio"
if [[ $UPSTREAM ]]; then
    u=$(min "${up[@]}")
    if [[ $uproot == "$work/big" ]]; then
        label="upstream on the same tree"
        ufull=$u
    else
        label="upstream measured on $NU x 3 = $uentries entries, scaled x$N/$NU per entry"
        ufull=$(echo "$u * $entries / $uentries" | bc -l)
    fi
    printf '%-44s %11ss %11ss %10s\n' "(a) status $N x 3 = $entries entries, cold" "$(f "$c")" "$(f "$ufull")" "$(ratio "$ufull" "$c")"
    printf '%-44s %11ss %11ss %10s\n' "(a) status $N x 3 = $entries entries, warm" "$(f "$w")" "$(f "$ufull")" "$(ratio "$ufull" "$w")"
    printf '%-44s %10sms %10sms %10s\n' "(a) per entry, warm" "$(f "$(echo "$w * 1000 / $entries" | bc -l)")" \
        "$(f "$(echo "$u * 1000 / $uentries" | bc -l)")" "$(ratio "$(echo "$u / $uentries" | bc -l)" "$(echo "$w / $entries" | bc -l)")"
    echo "    ($label)"
else
    printf '%-44s %11ss %12s %10s\n' "(a) status $N x 3 = $entries entries, cold" "$(f "$c")" "-" "-"
    printf '%-44s %11ss %12s %10s\n' "(a) status $N x 3 = $entries entries, warm" "$(f "$w")" "-" "-"
fi
v=$(min "${sv[@]}")
s=$(min "${ss[@]}")
if [[ $UPSTREAM ]]; then
    a=$(min "${uv[@]}")
    b=$(min "${us[@]}")
    printf '%-44s %10sms %10sms %10s\n' "(c) dkms --version" "$(f "$v")" "$(f "$a")" "$(ratio "$a" "$v")"
    printf '%-44s %10sms %10sms %10s\n' "(c) dkms status, empty tree" "$(f "$s")" "$(f "$b")" "$(ratio "$b" "$s")"
else
    printf '%-44s %10sms %12s %10s\n' "(c) dkms --version" "$(f "$v")" "-" "-"
    printf '%-44s %10sms %12s %10s\n' "(c) dkms status, empty tree" "$(f "$s")" "-" "-"
fi
echo "bash processes per status: cold $bash_cold, warm $bash_warm; modinfo processes (warm): $modinfo_warm"
bin=$(dirname "$DKMS")
mapfile -t bins < <(find "$bin" -maxdepth 1 -type f -perm -u+x \( -name dkms -o -name 'dkms-*' \) ! -name '*.d')
total=$(du -cb "${bins[@]}" | tail -n1 | cut -f1)
printf 'release binaries (%d files %s/dkms, dkms-*; hardlinks once): %d bytes = %.2f MiB\n' "${#bins[@]}" "$bin" "$total" \
    "$(echo "$total / 1048576" | bc -l)"
