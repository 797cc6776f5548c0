//! The fish completion script.

use super::*;

fn fish_quote(s: &str) -> String {
    format!("'{}'", s.replace('\\', "\\\\").replace('\'', "\\'"))
}

fn fish_values(kind: ValueKind, from_source: bool) -> String {
    let src = if from_source { "source-" } else { "" };
    match kind {
        ValueKind::Module => format!(" -f -a '(__dkms_values {src}modules)'"),
        ValueKind::Version => format!(" -f -a '(__dkms_values {src}versions (__dkms_module))'"),
        ValueKind::Kernel => " -f -a '(__dkms_values kernels)'".into(),
        ValueKind::Arch => " -f -a '(__dkms_values arches)'".into(),
        ValueKind::File => " -F".into(),
        ValueKind::Dir => " -f -a '(__fish_complete_directories)'".into(),
        ValueKind::Number | ValueKind::Text => " -f".into(),
        ValueKind::Choice(w) => format!(" -f -a {}", fish_quote(&w.join(" "))),
    }
}

fn fish_opt(condition: &str, o: &Opt, from_source: bool) -> String {
    let mut line = format!("complete -c dkms -n {}", fish_quote(condition));
    if let Some(c) = o.short {
        line.push_str(&format!(" -s {c}"));
    }
    if let Some(l) = &o.long {
        line.push_str(&format!(" -l {l}"));
    }
    if let Some(k) = o.kind {
        line.push_str(" -r");
        line.push_str(&fish_values(k, from_source));
    }
    line.push_str(&format!(" -d {}\n", fish_quote(&o.help)));
    line
}

/// `completions/dkms.fish`
pub fn fish(m: &Model) -> String {
    let mut s = String::new();
    s.push_str("# fish completion for dkms(8).\n");
    s.push_str(&format!("# {HEADER}\n"));
    let verbs: Vec<&str> = m.verbs.iter().map(|v| v.name.as_str()).collect();
    let value_opts: Vec<String> =
        m.value_opts().iter().flat_map(|o| o.spellings()).filter(|sp| !sp.ends_with('=')).collect();
    s.push_str(&FISH_HELPERS.replace("@VERBS@", &verbs.join(" ")).replace("@VALUE_OPTS@", &value_opts.join(" ")));
    s.push_str("\ncomplete -c dkms -f\n");
    s.push_str("\n# Before the action word.\n");
    for v in &m.verbs {
        s.push_str(&format!(
            "complete -c dkms -n '__dkms_verb_is' -a {} -d {}\n",
            fish_quote(&v.name),
            fish_quote(&v.about)
        ));
    }
    for o in &m.root {
        // Options of the front-end itself exist only before the action.
        if FRONT_END_OPTIONS.iter().any(|f| Some(f.long.trim_start_matches("--")) == o.long.as_deref()) {
            s.push_str(&fish_opt("__dkms_verb_is", o, false));
        }
    }
    for v in &m.verbs {
        s.push_str(&format!("\n# {}\n", v.name));
        let cond = format!("__dkms_verb_is {}", v.name);
        for o in &v.opts {
            s.push_str(&fish_opt(&cond, o, v.from_source));
        }
        for k in operand_kinds(v) {
            s.push_str(&fish_operand(&format!("__dkms_verb_is {}; and not __dkms_wants_value", v.name), k));
        }
        for w in &v.sub_words {
            let cond = format!("__dkms_verb_is {}; and __dkms_sub_is", v.name);
            s.push_str(&format!(
                "complete -c dkms -n {} -a {} -d {}\n",
                fish_quote(&cond),
                fish_quote(w.word),
                fish_quote(w.summary)
            ));
            if let Some(k) = operand_kind(w.operand) {
                let cond =
                    format!("__dkms_verb_is {}; and __dkms_sub_is {}; and not __dkms_wants_value", v.name, w.word);
                s.push_str(&fish_operand(&cond, k));
            }
        }
    }
    s
}

/// Complete an operand of kind `k` (see `operand_kind`) when `cond` holds.
fn fish_operand(cond: &str, k: &str) -> String {
    let values = match k {
        "files" => " -F".to_string(),
        "dirs" => " -a '(__fish_complete_directories)'".to_string(),
        k => format!(" -a '(__dkms_values {k})'"),
    };
    format!("complete -c dkms -n {}{values}\n", fish_quote(cond))
}

const FISH_HELPERS: &str = r#"
# Values that depend on the machine, from `dkms __complete KIND [ARG]`; the
# words typed so far go along so that --dkmstree etc. count.
function __dkms_values
    set -l words (commandline -opc)
    set -l dkms $words[1]
    string match -q -- '*/*' $dkms; and test -x $dkms; or set dkms dkms
    $dkms __complete $argv -- $words[2..-1] 2>/dev/null
end

# The action word on the line and the first word after it (its sub-word:
# cache key), one a line, each "" while not typed yet.
function __dkms_action
    set -l skip 0
    set -l verb ""
    for w in (commandline -opc)[2..-1]
        if test $skip = 1
            set skip 0
            continue
        end
        if contains -- $w @VALUE_OPTS@
            set skip 1
        else if string match -q -- '-*' $w
            continue
        else if test -n "$verb"
            printf '%s\n' $verb $w
            return
        else if contains -- $w @VERBS@
            set verb $w
        end
    end
    printf '%s\n' "$verb" ""
end

# Whether word $argv[1] of __dkms_action (1: the action, 2: its
# sub-word) is one of the rest; without them, whether it is not typed yet.
function __dkms_word_is
    set -l words (__dkms_action)
    set -l w $words[$argv[1]]
    if test (count $argv) -eq 1
        test -z "$w"
        return
    end
    contains -- "$w" $argv[2..-1]
end

function __dkms_verb_is
    __dkms_word_is 1 $argv
end

function __dkms_sub_is
    __dkms_word_is 2 $argv
end

# The module named with -m/--module, unless it names the version too.
function __dkms_module
    set -l words (commandline -opc)
    set -l m
    for i in (seq (count $words))
        switch $words[$i]
            case -m --module
                set -l n (math $i + 1)
                test $n -le (count $words); and set m $words[$n]
            case '--module=*'
                set m (string replace -- --module= '' $words[$i])
        end
    end
    string match -q -- '*/*' "$m"; or echo $m
end

# Whether the previous word is an option that takes a value.
function __dkms_wants_value
    set -l prev (commandline -opc)[-1]
    contains -- $prev @VALUE_OPTS@
end
"#;
