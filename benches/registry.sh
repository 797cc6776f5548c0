# An OCI registry for `make bench` (sourced by benches/bench.sh): Debian's
# docker-registry (the CNCF distribution registry) on 127.0.0.1 with its own
# config and storage in a directory of the bench, as tests/cli/cache/oci.rs
# starts it (its package's own service is never used). Stopped by
# registry_stop, and by the bench's exit trap if it is still running.
#
#   registry_start DIR   sets reg_pid and reg_port; 1 when it did not start
#   registry_stop

reg_pid= reg_port=

registry_start() {
    local dir=$1 i
    command -v docker-registry >/dev/null || return 1
    mkdir -p "$dir/storage"
    reg_port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
    cat >"$dir/config.yml" <<EOC
version: 0.1
log:
  level: error
  accesslog:
    disabled: true
storage:
  filesystem:
    rootdirectory: $dir/storage
http:
  addr: 127.0.0.1:$reg_port
  secret: dkms-bench
EOC
    docker-registry serve "$dir/config.yml" >/dev/null 2>"$dir/registry.log" &
    reg_pid=$!
    for ((i = 0; i < 200; i++)); do
        (echo >"/dev/tcp/127.0.0.1/$reg_port") 2>/dev/null && return 0
        kill -0 "$reg_pid" 2>/dev/null || break
        sleep 0.05
    done
    echo "bench: docker-registry did not start:" >&2
    cat "$dir/registry.log" >&2
    registry_stop
    return 1
}

registry_stop() {
    if [[ $reg_pid ]]; then
        kill "$reg_pid" 2>/dev/null || true
        wait "$reg_pid" 2>/dev/null || true
        reg_pid=
    fi
}
