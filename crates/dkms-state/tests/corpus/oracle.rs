//! The oracle of the corpus tests: upstream's own `read_conf` sourcing code
//! (the whitelist and `safe_source`, verbatim from dkms.in) run by bash on
//! the same confs, to compare our evaluation with.

use super::*;

/// Upstream's whitelist (`dkms_conf_variables` in dkms.in), verbatim.
pub(super) const WHITELIST: &str = r#"readonly dkms_conf_variables="PACKAGE_NAME
   PACKAGE_VERSION POST_ADD POST_BUILD POST_INSTALL POST_REMOVE PRE_BUILD
   PRE_INSTALL BUILD_DEPENDS BUILD_EXCLUSIVE_ARCH BUILD_EXCLUSIVE_CONFIG
   BUILD_EXCLUSIVE_KERNEL BUILD_EXCLUSIVE_KERNEL_MIN BUILD_EXCLUSIVE_KERNEL_MAX
   build_exclude MAKE MAKE_MATCH
   PATCH PATCH_MATCH patch_array BUILT_MODULE_NAME
   built_module_name BUILT_MODULE_LOCATION built_module_location
   DEST_MODULE_NAME dest_module_name
   DEST_MODULE_LOCATION dest_module_location
   STRIP strip AUTOINSTALL NO_WEAK_MODULES BUILD_DEPENDS_REBUILD

   OBSOLETE_BY CLEAN
   REMAKE_INITRD MODULES_CONF MODULES_CONF_OBSOLETES
   MODULES_CONF_ALIAS_TYPE MODULES_CONF_OBSOLETE_ONLY""#;

/// Upstream's `safe_source`, verbatim from dkms.in.
pub(super) const SAFE_SOURCE: &str = r#"safe_source() {
    # $1 = file to source
    # $@ = environment variables to echo out
    local to_source_file
    to_source_file="$1"; shift
    # shellcheck disable=SC2206
    # we intentionally split the string into a multi-element array
    declare -a -r export_envs=( $@ )
    # shellcheck disable=SC2034
    # false positive
    local -r CR=$(echo -e '\r')
    local tmpfile
    tmpfile=$(mktemp_or_die)
    ( exec >"$tmpfile"
    # shellcheck disable=SC1090
    . "$to_source_file" >/dev/null
    # This is really ugly, but a neat hack
    # Remember, in bash 2.0 and greater all variables are really arrays.
    local _export_env
    local _i
    local directive
    local directive_name
    local directive_value
    for _export_env in "${export_envs[@]}"; do
        # shellcheck disable=SC1083,SC2294
        for _i in $(eval echo \${!"${_export_env}"[@]}); do
            eval echo '$_export_env[$_i]=\"${'"${_export_env}"'[$_i]%$CR}\"'
        done
    done

    # handle DKMS_DIRECTIVE stuff specially.
    for directive in $(set | grep ^DKMS_DIRECTIVE | cut -d = -f 2-3); do
        directive_name=${directive%%=*}
        directive_value=${directive#*=}
        echo "$directive_name=\"$directive_value\""
    done
    )
    # shellcheck disable=SC1090
    . "$tmpfile"
    rm "${tmpfile:?}"
"#;

/// The part of `read_conf` that clears and sources, verbatim from dkms.in
/// (`$1`/`$2` are the kernel version and arch, as there).
pub(super) const READ_CONF_SOURCING: &str = r#"    # Clear variables and arrays
    for var in $dkms_conf_variables; do
        unset "$var"
    done

    # Source in the dkms.conf.
    # Allow for user-specified overrides in order of specificity.
    local _conf_file
    for _conf_file in \
        "$read_conf_file" \
        "/etc/dkms/$module.conf" \
        "/etc/dkms/$module-$module_version.conf" \
        "/etc/dkms/$module-$module_version-$1.conf" \
        "/etc/dkms/$module-$module_version-$1-$2.conf" \
        "/etc/dkms/$module--$1.conf" \
        "/etc/dkms/$module--$1-$2.conf" \
    ; do
        [[ -e $_conf_file ]] && safe_source "$_conf_file" "$dkms_conf_variables"
    done
"#;

/// The oracle: upstream's code above, with the helpers it calls, the
/// deprecation tail of `safe_source` dropped (`show_deprecation_warnings`
/// is 0 in non-strict reads) and `/etc/dkms` pointed at `conf_dir`.
pub(super) fn oracle_prelude(conf_dir: &Path) -> String {
    let read_conf = READ_CONF_SOURCING.replace("/etc/dkms", &conf_dir.display().to_string());
    format!(
        r#"shopt -s extglob
{WHITELIST}
mktemp_or_die() {{
    local t
    t=$(mktemp "$@") && echo "$t" && return
    exit 1
}}
{SAFE_SOURCE}}}
oracle_read_conf() {{
    local return_value
    local read_conf_file
    return_value=0
    read_conf_file="$3"
    local kernelver
    local arch
    kernelver="$1"
    arch="$2"
{read_conf}}}
oracle_dump() {{
    local _n _i _keys _v
    for _n in $dkms_conf_variables; do
        eval "_keys=(\"\${{!$_n[@]}}\")"
        for _i in "${{_keys[@]}}"; do
            eval "_v=\${{$_n[$_i]}}"
            printf '%s\0%s\0%s\0' "$_n" "$_i" "$_v"
        done
    done
}}
"#
    )
}

pub(super) fn quote(s: &str) -> String {
    format!("'{}'", s.replace('\'', r"'\''"))
}

/// One evaluation.
pub(super) struct Case {
    pub(super) label: String,
    pub(super) spec: Spec,
}

/// Context upstream has when it reads a conf, given the same on both sides.
pub(super) fn context(dkms_tree: &Path) -> Vec<(String, String)> {
    vec![
        ("dkms_tree".into(), dkms_tree.display().to_string()),
        ("source_tree".into(), "/usr/src".into()),
        ("install_tree".into(), "/lib/modules".into()),
        ("parallel_jobs".into(), "4".into()),
    ]
}

pub(super) fn oracle(cases: &[Case], conf_dir: &Path) -> Vec<BTreeMap<String, Array>> {
    let mut script = oracle_prelude(conf_dir);
    for c in cases {
        let s = &c.spec;
        script.push_str("(\n");
        for (k, v) in &s.context {
            script.push_str(&format!("{k}={}\n", quote(v)));
        }
        script.push_str(&format!(
            "module={}\nmodule_version={}\nkernel_source_dir={}\nkernel_config={}\n",
            quote(&s.module),
            quote(&s.module_version),
            quote(&s.kernel_source_dir.display().to_string()),
            quote(&s.kernel_config.display().to_string()),
        ));
        script.push_str(&format!(
            "oracle_read_conf {} {} {} 2>/dev/null\nprintf 'Q\\0'\noracle_dump\n)\n",
            quote(&s.kernelver),
            quote(&s.arch),
            quote(&s.file.display().to_string())
        ));
    }
    let out = run_script("oracle.sh", &script);
    assert!(out.status.success(), "oracle failed: {}", String::from_utf8_lossy(&out.stderr));
    let mut results: Vec<BTreeMap<String, Array>> = Vec::new();
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    let mut fields = text.split('\0');
    while let Some(f) = fields.next() {
        match f {
            "Q" => results.push(BTreeMap::new()),
            "" => {}
            name => {
                let (i, v) = (fields.next().unwrap(), fields.next().unwrap());
                let cur = results.last_mut().expect("Q first");
                cur.entry(name.to_string()).or_default().insert(i.parse().unwrap(), v.to_string());
            }
        }
    }
    assert_eq!(results.len(), cases.len(), "oracle output:\n{text}");
    results
}

/// Write a generated oracle script to a file and run it with bash.
// Test code: the oracle script runs under a plain bash.
pub(super) fn run_script(name: &str, script: &str) -> std::process::Output {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join(name);
    fs::write(&path, script).unwrap();
    Command::new("bash").arg(&path).output().expect("run bash")
}
