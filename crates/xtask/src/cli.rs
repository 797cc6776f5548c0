//! The `clap::Command` tree of dkms, built from the verb and flag tables of
//! dkms-cli with clap's builder API. Only documentation is generated from
//! it: the installed binaries parse with lexopt (upstream's grammar).

use clap::builder::PossibleValuesParser;
use clap::{Arg, ArgAction, Command, ValueHint};
use dkms_cli::table::{self, Flag, FrontOption, Operand, ValueKind, Verb, FLAGS, FRONT_END_OPTIONS, VERBS};

/// The release, as `dkms --version` prints it without the `dkms-` prefix.
pub const VERSION: &str = env!("CARGO_PKG_VERSION");

fn hint(kind: Option<ValueKind>) -> ValueHint {
    match kind {
        Some(ValueKind::File) => ValueHint::FilePath,
        Some(ValueKind::Dir) => ValueHint::DirPath,
        _ => ValueHint::Other,
    }
}

/// The clap id of a flag: its `FlagId` name.
pub fn flag_id(f: &Flag) -> String {
    format!("{:?}", f.id)
}

/// One option of the table as a clap argument.
pub fn flag_arg(f: &Flag) -> Arg {
    let mut a = Arg::new(flag_id(f)).help(f.help).long_help(table::expand(f.long_help));
    if let Some(long) = f.long.strip_prefix("--") {
        a = a.long(long);
    }
    if let Some(c) = f.short {
        a = a.short(c);
    }
    match f.value {
        Some(v) => {
            a = a.value_name(v).action(ArgAction::Append).num_args(1).value_hint(hint(f.kind));
            if let Some(ValueKind::Choice(words)) = f.kind {
                a = a.value_parser(PossibleValuesParser::new(words.iter().copied()));
            }
            a
        }
        None => a.action(ArgAction::SetTrue),
    }
}

fn front_arg(o: &FrontOption) -> Arg {
    let long = o.long.trim_start_matches("--");
    let a = Arg::new(long.to_string()).long(long).help(o.help).long_help(o.long_help);
    match o.value {
        Some(v) => a.value_name(v).num_args(1).require_equals(true).value_hint(hint(o.kind)),
        None => a.action(ArgAction::SetTrue),
    }
}

/// Synopsis of a verb: `dkms VERB [options] [operands]`.
pub fn usage(v: &Verb) -> String {
    let ops: Vec<String> = table::operand_synopsis(v).iter().map(ToString::to_string).collect();
    let mut s = format!("dkms {} [options]", v.name);
    if !ops.is_empty() {
        s.push_str(&format!(" [{}]", ops.join(" | ")));
    }
    s
}

/// The command of one verb.
pub fn verb_command(v: &Verb) -> Command {
    let d = v;
    let mut c = Command::new(v.name)
        .about(v.summary)
        .long_about(table::expand(d.description))
        .disable_help_flag(true)
        .disable_version_flag(true)
        .override_usage(format!("{}\n{} [options] ...", usage(v), v.binary));
    for f in table::verb_flags(v) {
        c = c.arg(flag_arg(f));
    }
    if !d.operands.is_empty() {
        let names: Vec<String> = table::operand_synopsis(v).iter().map(ToString::to_string).collect();
        c = c.arg(
            Arg::new("operand")
                .value_name(names.join(if d.sub_words.is_empty() { "|" } else { " | " }))
                .num_args(0..=1)
                .help("What to act on (see DESCRIPTION)")
                .value_hint(if d.operands.contains(&Operand::SourceDir) {
                    ValueHint::AnyPath
                } else {
                    ValueHint::Other
                }),
        );
    }
    c
}

/// The whole tree: `dkms` with every option of the table, the front-end's
/// own options, and one subcommand per verb.
pub fn command() -> Command {
    let mut c = Command::new("dkms")
        .bin_name("dkms")
        .version(VERSION)
        .about("Dynamic Kernel Module Support")
        .disable_help_flag(true)
        .disable_version_flag(true)
        .disable_help_subcommand(true)
        .subcommand_value_name("action");
    for f in FLAGS.iter() {
        c = c.arg(flag_arg(f).global(false));
    }
    for o in FRONT_END_OPTIONS.iter() {
        c = c.arg(front_arg(o));
    }
    for v in VERBS.iter() {
        c = c.subcommand(verb_command(v));
    }
    c
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn command_tree_is_well_formed() {
        command().debug_assert();
        for v in VERBS.iter() {
            verb_command(v).debug_assert();
        }
    }

    #[test]
    fn every_table_entry_is_in_the_tree() {
        let c = command();
        assert_eq!(c.get_subcommands().count(), VERBS.len());
        assert_eq!(c.get_arguments().count(), FLAGS.len() + FRONT_END_OPTIONS.len());
        for v in VERBS.iter() {
            let sub = c.find_subcommand(v.name).expect("verb");
            for f in table::verb_flags(v) {
                assert!(sub.get_arguments().any(|a| a.get_id() == flag_id(f).as_str()), "{} {}", v.name, f.long);
            }
        }
    }
}
