//! Facts about other processes: our grandparent (the rpm transaction of
//! `--rpm_safe_upgrade`) and when a process started.

/// The PID of our parent's parent (the rpm transaction, upstream's `pppid`).
pub(crate) fn grandparent_pid() -> String {
    let ppid = nix::unistd::getppid();
    std::fs::read_to_string(format!("/proc/{ppid}/status"))
        .ok()
        .and_then(|s| s.lines().find_map(|l| l.strip_prefix("PPid:").map(|v| v.trim().to_string())))
        .unwrap_or_default()
}

/// `ps -o lstart --no-headers -p PID`
pub(crate) fn process_start(pid: &str) -> String {
    let mut c = dkms_state::tools::command("ps", &[]);
    c.args(["-o", "lstart", "--no-headers", "-p", pid]);
    dkms_state::tools::output(&mut c)
        .map(|o| String::from_utf8_lossy(&o.stdout).trim_end().to_string())
        .unwrap_or_default()
}
