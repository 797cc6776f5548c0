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
#   (b) `dkms autoinstall -k <kver>` of BENCH_AUTO_MODULES (8) independent
#       real hello-world kbuild modules against the installed kernel headers,
#       in private dkms, source and install trees (depmod -b on the private
#       tree, signing with a private key); `dkms add` untimed. After each run
#       the state both leave (status, installed files, valid .ko files,
#       modules.dep) must be identical, else the script exits 1.
#   (c) start-up: `dkms --version` and `dkms status` on an empty tree.
#   (d) binary cache (ours): the (b) modules built by a builder that pushes
#       them, then installed on a fresh node from that cache over HTTP
#       (python3 -m http.server) with make forbidden; wall and CPU time.
#   Sizes of the release binaries (hardlinks counted once).
#
# Environment: DKMS (ours, default target/release/dkms), UPSTREAM (default
# ../shared/conformance/upstream/built/dkms; empty to skip), BENCH_MODULES
# (600), BENCH_UPSTREAM_MODULES (default BENCH_MODULES), BENCH_ROUNDS (3),
# BENCH_UPSTREAM_ROUNDS (1: upstream needs minutes per status on 600 x 3),
# BENCH_STARTUP_ITERS (200), BENCH_DIR (a temporary directory),
# BENCH_KERNEL (for (b): default the running kernel if its headers are
# installed, else the first /lib/modules/*/build), BENCH_AUTO_MODULES (8),
# BENCH_AUTO_ROUNDS (2), BENCH_SKIP_AUTOINSTALL (non-empty: skip (b)).
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
AUTO_N=${BENCH_AUTO_MODULES:-8}
AROUNDS=${BENCH_AUTO_ROUNDS:-2}
KERNELS=(6.1.0-901-bench 6.1.0-902-bench 6.1.0-903-bench)
ARCH=$(uname -m)

[[ -x $DKMS ]] || { echo "bench: $DKMS not found (cargo build --release)" >&2; exit 1; }
[[ $UPSTREAM && -f $UPSTREAM ]] || UPSTREAM=
command -v gcc >/dev/null || { echo "bench: gcc is needed to make the .ko files" >&2; exit 1; }

work=${BENCH_DIR:-$(mktemp -d "${TMPDIR:-/tmp}/dkms-bench.XXXXXX")}
# shellcheck source=benches/registry.sh
. "$here/benches/registry.sh"
# The registry of (d) is stopped however the script ends.
cleanup() {
    registry_stop
    [[ ${BENCH_DIR:-} ]] || rm -rf "$work"
}
trap cleanup EXIT
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
median() {
    local -a v
    mapfile -t v < <(printf '%s\n' "$@" | sort -g)
    local n=${#v[@]}
    if ((n % 2)); then echo "${v[n / 2]}"; else echo "(${v[n / 2 - 1]} + ${v[n / 2]}) / 2" | bc -l; fi
}

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

# ---- (b) autoinstall of AUTO_N real kernel modules, alternating ours and upstream
# Each run gets fresh private trees: <run>/src (the module sources),
# <run>/dkms, and <run>/base/lib/modules as the install tree, whose
# <kver>/build links to the real headers (both derive kernel_source_dir as
# <install_tree>/<kver>/build) and whose <kver>/modules.dep exists (both skip
# depmod without it). Both run `depmod -a <kver>` by name, which would work on
# /lib/modules: a `depmod` wrapper first on PATH adds `-b <run>/base`. Both
# sign with a private key pair (framework.conf; try_sign_modules=true, as
# chroot detection may say no here). Nothing outside $work is written.
auto_skip=
if [[ ${BENCH_SKIP_AUTOINSTALL:-} ]]; then
    auto_skip="BENCH_SKIP_AUTOINSTALL is set"
elif ! command -v make >/dev/null; then
    auto_skip="make not found"
elif ! real_depmod=$(command -v depmod); then
    auto_skip="depmod not found (kmod)"
else
    akver=${BENCH_KERNEL:-}
    if [[ ! $akver ]]; then
        for d in "/lib/modules/$(uname -r)/build" /lib/modules/*/build; do
            [[ -d $d/include ]] && { akver=$(basename "$(dirname "$d")"); break; }
        done
    fi
    if [[ ! $akver ]]; then
        auto_skip="no kernel headers (no /lib/modules/*/build with include/; set BENCH_KERNEL)"
    elif ! aheaders=$(readlink -e "/lib/modules/$akver/build") || [[ ! -d $aheaders/include ]]; then
        auto_skip="no kernel headers for $akver at /lib/modules/$akver/build"
    fi
fi
auto_ours=() auto_up=() auto_same=yes auto_out_same=yes
if [[ $auto_skip ]]; then
    echo "(b) autoinstall skipped: $auto_skip" >&2
else
    auto=$work/auto
    mkdir -p "$auto/src" "$auto/bin"
    for ((i = 0; i < AUTO_N; i++)); do
        m=benchauto$i
        d=$auto/src/$m-1.0
        mkdir -p "$d"
        cat >"$d/$m.c" <<EOC
#include <linux/init.h>
#include <linux/module.h>

static int __init ${m}_init(void)
{
	pr_info("$m: loaded\n");
	return 0;
}

static void __exit ${m}_exit(void)
{
	pr_info("$m: unloaded\n");
}

module_init(${m}_init);
module_exit(${m}_exit);
MODULE_LICENSE("GPL");
MODULE_DESCRIPTION("dkms benchmark module $m");
MODULE_VERSION("1.0");
EOC
        echo "obj-m := $m.o" >"$d/Kbuild"
        cat >"$d/dkms.conf" <<EOC
PACKAGE_NAME="$m"
PACKAGE_VERSION="1.0"
BUILT_MODULE_NAME[0]="$m"
DEST_MODULE_LOCATION[0]="/updates/dkms"
AUTOINSTALL="yes"
EOC
    done
    cat >"$auto/bin/depmod" <<EOC
#!/bin/sh
# depmod on the benchmark's private tree, never on /lib/modules
[ -n "\${BENCH_DEPMOD_BASE:-}" ] || { echo "bench depmod: BENCH_DEPMOD_BASE is not set" >&2; exit 1; }
exec $real_depmod -b "\$BENCH_DEPMOD_BASE" "\$@"
EOC
    chmod 755 "$auto/bin/depmod"
    if command -v openssl >/dev/null && openssl req -new -nodes -utf8 -sha256 -days 36500 -batch -x509 \
        -subj "/CN=dkms benchmark" -newkey rsa:2048 -keyout "$auto/mok.key" \
        -outform DER -out "$auto/mok.pub" >/dev/null 2>&1; then
        printf 'mok_signing_key="%s"\nmok_certificate="%s"\ntry_sign_modules="true"\n' \
            "$auto/mok.key" "$auto/mok.pub" >"$work/etc/dkms/framework.conf"
    else
        echo "(b) openssl failed: modules are not signed (both)" >&2
        echo 'try_sign_modules="false"' >"$work/etc/dkms/framework.conf"
    fi
    # Warm the page cache with the headers: one plain kbuild build, untimed.
    mkdir -p "$auto/warm"
    cp "$auto/src/benchauto0-1.0/"* "$auto/warm/"
    make -s -C "$aheaders" M="$auto/warm" modules >/dev/null 2>&1 || true

    # auto_tree IMPL RUN: a fresh private tree with the modules added.
    auto_tree() {
        local impl=$1 root=$2 i lib=$2/base/lib/modules/$akver f
        rm -rf "$root"
        mkdir -p "$root/dkms" "$lib"
        cp -a "$auto/src" "$root/src"
        ln -s "$aheaders" "$lib/build"
        for f in modules.order modules.builtin modules.builtin.modinfo; do
            [[ -f /lib/modules/$akver/$f ]] && cp "/lib/modules/$akver/$f" "$lib/"
        done
        : >"$lib/modules.dep"
        for ((i = 0; i < AUTO_N; i++)); do
            auto_dkms "$impl" "$root" add "benchauto$i/1.0" >>"$root/add.log" 2>&1 ||
                { echo "bench: $impl: dkms add benchauto$i/1.0 failed:" >&2; cat "$root/add.log" >&2; exit 1; }
        done
    }
    auto_dkms() {
        local impl=$1 root=$2 prog=$DKMS
        shift 2
        [[ $impl == upstream ]] && prog=$UP
        PATH=$auto/bin:$PATH BENCH_DEPMOD_BASE=$root/base \
            "$prog" "$@" --dkmstree "$root/dkms" --sourcetree "$root/src" --installtree "$root/base/lib/modules" </dev/null
    }
    # auto_run IMPL RUN: the timed autoinstall; output in RUN/out, exit code in RUN/rc.
    auto_run() {
        local rc=0
        auto_dkms "$1" "$2" autoinstall -k "$akver" >"$2/out" 2>&1 || rc=$?
        echo "$rc" >"$2/rc"
    }
    # auto_state IMPL RUN: what the run left, paths normalised, in RUN/state.
    auto_state() {
        local impl=$1 root=$2 lib=$2/base/lib/modules/$akver ko name
        {
            echo "autoinstall exit code: $(cat "$root/rc")"
            echo "== status"
            auto_dkms "$impl" "$root" status 2>&1 | sed "s|$root|<run>|g"
            echo "== install tree"
            (cd "$root/base" && find . -mindepth 1 -printf '%P %y\n' | sort)
            echo "== modules"
            while IFS= read -r ko; do
                name=$(basename "$ko" .ko)
                if [[ $(modinfo -F name "$ko" 2>/dev/null) == "$name" ]] &&
                    [[ $(modinfo -F vermagic "$ko" 2>/dev/null) == "$akver "* ]]; then
                    echo "$name: valid, version $(modinfo -F version "$ko"), signature: $(modinfo -F sig_id "$ko" || true)"
                else
                    echo "$name: NOT a valid module for $akver"
                fi
            done < <(find "$root/base" -name '*.ko' | sort)
            # (in the order the files were found in: sorted)
            echo "== modules.dep"
            sort "$lib/modules.dep" 2>&1
        } >"$root/state"
        sed "s|$root|<run>|g" "$root/out" >"$root/out.norm"
    }
    asecs() {
        local t0 t1
        t0=$(now)
        auto_run "$@"
        t1=$(now)
        echo "$t1 - $t0" | bc -l
    }
    aimpls=(ours)
    [[ $UPSTREAM ]] && aimpls+=(upstream)
    for ((r = 0; r < AROUNDS; r++)); do
        order=("${aimpls[@]}")
        # Take turns at going first.
        ((r % 2 == 1 && ${#aimpls[@]} == 2)) && order=(upstream ours)
        for impl in "${order[@]}"; do
            run_dir=$auto/$impl.$r
            auto_tree "$impl" "$run_dir"
            echo "  round $((r + 1))/$AROUNDS: $impl autoinstall of $AUTO_N modules for $akver..." >&2
            t=$(asecs "$impl" "$run_dir")
            if [[ $impl == ours ]]; then auto_ours+=("$t"); else auto_up+=("$t"); fi
            auto_state "$impl" "$run_dir"
            if [[ $(cat "$run_dir/rc") != 0 ]] || grep -q 'NOT a valid' "$run_dir/state" ||
                [[ $(grep -c ': valid,' "$run_dir/state") != "$AUTO_N" ]]; then
                echo "bench: $impl autoinstall did not install $AUTO_N valid modules:" >&2
                cat "$run_dir/out" "$run_dir/state" >&2
                auto_same=no
            fi
        done
        if [[ $UPSTREAM ]]; then
            if ! diff -u "$auto/upstream.$r/state" "$auto/ours.$r/state" >"$auto/state.$r.diff"; then
                echo "bench: (b) round $((r + 1)): the state ours left differs from upstream's (- upstream, + ours):" >&2
                cat "$auto/state.$r.diff" >&2
                auto_same=no
            fi
            cmp -s "$auto/upstream.$r/out.norm" "$auto/ours.$r/out.norm" || auto_out_same=no
        fi
    done
    # ---- (d) the binary cache (ours only): a builder autoinstall that
    # pushes every build (the local build's figures), then nodes with fresh
    # trees installing the same modules from that cache, with a `make` first
    # on PATH that fails any build: through `python3 -m http.server` (a
    # directory when python3 is absent), and from an OCI registry
    # (docker-registry on 127.0.0.1, benches/registry.sh) the builder's
    # entries were pushed to with `dkms cache push --to oci+http://...`.
    # Wall and CPU time (user+sys of dkms and its children) of each; the
    # installed files must be the builder's. The registry install must take
    # at most 10% of the wall time of the local build ((b), median).
    cache_dir=$auto/cache
    rm -rf "$cache_dir"
    ctime() { # ctime IMPL RUN: "wall user+sys" of one autoinstall
        local TIMEFORMAT='%R %U %S' t
        t=$({ time auto_run "$@" ; } 2>&1)
        echo "$t" | awk '{ printf "%s %s\n", $1, $2 + $3 }'
    }
    auto_tree ours "$auto/builder"
    echo "  (d) builder: autoinstall of $AUTO_N modules, pushing to the cache..." >&2
    read -r cb_wall cb_cpu < <(DKMS_BINARY_CACHE_PUSH=$cache_dir ctime ours "$auto/builder")
    mkdir -p "$auto/nomake"
    printf '#!/bin/sh\ncase "$*" in *KERNELRELEASE=*) echo "bench: make run on the node" >&2; exit 99;; esac\nexec %s "$@"\n' \
        "$(command -v make)" >"$auto/nomake/make"
    chmod 755 "$auto/nomake/make"
    # node_from SRC RUN: a node's autoinstall from SRC, "wall cpu" in
    # RUN/times; sets cache_same=no unless it installed the builder's
    # modules, unbuilt.
    cache_same=yes
    node_from() {
        local src=$1 run=$2 ko wall cpu
        auto_tree ours "$run"
        echo "  (d) node: autoinstall of $AUTO_N modules from $src..." >&2
        read -r wall cpu < <(PATH=$auto/nomake:$PATH DKMS_BINARY_CACHE=$src ctime ours "$run")
        local same=yes
        for ko in $(cd "$auto/builder/base" && find . -name '*.ko' | sort); do
            cmp -s "$auto/builder/base/$ko" "$run/base/$ko" || same=no
        done
        [[ $(cat "$auto/builder/rc") == 0 && $(cat "$run/rc") == 0 ]] || same=no
        [[ $(grep -c 'Using prebuilt modules' "$run/out") == "$AUTO_N" ]] || same=no
        if [[ $same != yes ]]; then
            echo "bench: (d) the node did not install the builder's $AUTO_N modules from $src:" >&2
            cat "$run/out" >&2
            cache_same=no
        fi
        echo "$wall $cpu" >"$run/times"
    }
    cache_src=$cache_dir http_pid=
    if command -v python3 >/dev/null; then
        port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
        python3 -m http.server "$port" --bind 127.0.0.1 --directory "$cache_dir" >/dev/null 2>&1 &
        http_pid=$!
        for _ in $(seq 50); do (echo >"/dev/tcp/127.0.0.1/$port") 2>/dev/null && break; sleep 0.1; done
        cache_src=http://127.0.0.1:$port/
    fi
    node_from "$cache_src" "$auto/node"
    read -r cn_wall cn_cpu <"$auto/node/times"
    [[ $http_pid ]] && kill "$http_pid" 2>/dev/null
    oci_skip=
    if ! command -v python3 >/dev/null || ! command -v docker-registry >/dev/null; then
        oci_skip="docker-registry or python3 not found (scripts/deps.sh)"
    elif ! registry_start "$auto/registry"; then
        oci_skip="docker-registry did not start"
    else
        oci_src=oci+http://127.0.0.1:$reg_port/dkms/bench
        echo "  (d) builder: cache push of $AUTO_N modules to $oci_src..." >&2
        t0=$(now)
        for ((i = 0; i < AUTO_N; i++)); do
            auto_dkms ours "$auto/builder" cache push "benchauto$i/1.0" -k "$akver" --to "$oci_src" \
                >>"$auto/oci-push.log" 2>&1 || { cat "$auto/oci-push.log" >&2; cache_same=no; }
        done
        co_push=$(echo "$(now) - $t0" | bc -l)
        node_from "$oci_src" "$auto/node-oci"
        read -r co_wall co_cpu <"$auto/node-oci/times"
        registry_stop
    fi
    : >"$work/etc/dkms/framework.conf"
fi

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
ratio2() { [[ $1 && $2 ]] && printf '%.2fx' "$(echo "$1 / $2" | bc -l)" || echo "-"; }
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
if [[ $auto_skip ]]; then
    printf '%-44s %12s %12s %10s\n' "(b) autoinstall" "skipped" "-" "-"
    echo "    ($auto_skip)"
else
    am=$(median "${auto_ours[@]}")
    an=$(min "${auto_ours[@]}")
    blabel="(b) autoinstall $AUTO_N modules"
    if [[ $UPSTREAM ]]; then
        um=$(median "${auto_up[@]}")
        un=$(min "${auto_up[@]}")
        printf '%-44s %11ss %11ss %10s\n' "$blabel, median" "$(f "$am")" "$(f "$um")" "$(ratio2 "$um" "$am")"
        printf '%-44s %11ss %11ss %10s\n' "$blabel, min" "$(f "$an")" "$(f "$un")" "$(ratio2 "$un" "$an")"
        printf '    (ours/upstream: median %.2f, min %.2f, target <= 0.6; %d rounds, kernel %s, parallel_jobs %s)\n' \
            "$(echo "$am / $um" | bc -l)" "$(echo "$an / $un" | bc -l)" "$AROUNDS" "$akver" "$(nproc)"
        echo "    state identical: $auto_same; autoinstall output identical (paths normalised): $auto_out_same"
    else
        printf '%-44s %11ss %12s %10s\n' "$blabel, median" "$(f "$am")" "-" "-"
        printf '%-44s %11ss %12s %10s\n' "$blabel, min" "$(f "$an")" "-" "-"
        echo "    ($AROUNDS rounds, kernel $akver; state: $([[ $auto_same == yes ]] && echo "$AUTO_N valid modules" || echo "NOT as expected"))"
    fi
fi
if [[ ! $auto_skip ]]; then
    printf '%-44s %10s %10s %10s\n' "(d) $AUTO_N modules, binary cache" "wall" "cpu" ""
    printf '%-44s %11ss %11ss\n' "    local build (builder, pushing)" "$(f "$cb_wall")" "$(f "$cb_cpu")"
    printf '%-44s %11ss %11ss\n' "    node, from $( [[ $http_pid ]] && echo "HTTP" || echo "a directory")" "$(f "$cn_wall")" "$(f "$cn_cpu")"
    printf '    (node/builder: wall %.1f%%, cpu %.1f%%; same files: %s)\n' \
        "$(echo "$cn_wall * 100 / $cb_wall" | bc -l)" "$(echo "$cn_cpu * 100 / $cb_cpu" | bc -l)" "$cache_same"
    if [[ $oci_skip ]]; then
        printf '%-44s %12s\n' "    node, from an OCI registry" "skipped"
        echo "    ($oci_skip)"
    else
        printf '%-44s %11ss %12s\n' "    builder: cache push to the registry" "$(f "$co_push")" ""
        printf '%-44s %11ss %11ss\n' "    node, from an OCI registry" "$(f "$co_wall")" "$(f "$co_cpu")"
        oci_pct=$(echo "$co_wall * 100 / $am" | bc -l)
        printf '    (registry node / local build (b) median %.3fs: wall %.1f%%, target <= 10%%; / builder: %.1f%%)\n' \
            "$am" "$oci_pct" "$(echo "$co_wall * 100 / $cb_wall" | bc -l)"
    fi
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
if [[ $auto_same != yes ]]; then
    echo "bench: (b) ours and upstream did not leave the same state (see above)" >&2
    exit 1
fi
if [[ ! $auto_skip ]]; then
    if [[ $cache_same != yes ]]; then
        echo "bench: (d) a node did not install the builder's modules from the cache (see above)" >&2
        exit 1
    fi
    if [[ ! $oci_skip ]] && (($(echo "$oci_pct > 10" | bc -l))); then
        printf 'bench: (d) the registry install took %.1f%% of the local build (target <= 10%%)\n' "$oci_pct" >&2
        exit 1
    fi
fi
