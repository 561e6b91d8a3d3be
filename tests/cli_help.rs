//! Every option of the command line says what it does in `--help`.

use std::process::Command;

/// The help text of `origin_exporter ARGS... --help`.
fn help(args: &[&str]) -> String {
    let out = Command::new(env!("CARGO_BIN_EXE_origin_exporter"))
        .args(args)
        .arg("--help")
        .output()
        .expect("run origin_exporter");
    assert!(out.status.success(), "{args:?} --help: {out:?}");
    String::from_utf8(out.stdout).expect("UTF-8 help")
}

/// The options and arguments listed in `help` that have no text: an entry is a line under
/// `Options:` or `Arguments:` that starts with `-`, `<` or `[`; its text follows on the same
/// line after two spaces, or on the next lines, indented deeper (clap's long layout).
fn entries_without_text(help: &str) -> Vec<String> {
    let lines: Vec<&str> = help.lines().collect();
    let indent = |l: &str| l.len() - l.trim_start().len();
    let mut in_list = false;
    let mut missing = Vec::new();
    for (i, line) in lines.iter().enumerate() {
        let trimmed = line.trim_start();
        if !line.starts_with(' ') {
            in_list = matches!(trimmed, "Options:" | "Arguments:");
            continue;
        }
        if !in_list || !trimmed.starts_with(['-', '<', '[']) {
            continue;
        }
        let same_line = trimmed
            .split_once("  ")
            .is_some_and(|(_, text)| !text.trim().is_empty());
        let next_lines = lines
            .get(i + 1)
            .is_some_and(|next| !next.trim().is_empty() && indent(next) > indent(line));
        if !same_line && !next_lines {
            missing.push(trimmed.to_string());
        }
    }
    missing
}

#[test]
fn every_option_of_check_has_help_text() {
    let text = help(&["check"]);
    for option in [
        "--https-port",
        "--http-port",
        "--domain",
        "--format",
        "--config.file",
    ] {
        assert!(
            text.contains(option),
            "check --help lacks {option}:\n{text}"
        );
    }
    assert_eq!(
        entries_without_text(&text),
        Vec::<String>::new(),
        "check --help:\n{text}"
    );
}

#[test]
fn every_option_of_the_daemon_and_config_check_has_help_text() {
    for args in [&[][..], &["config", "check"][..]] {
        let text = help(args);
        assert!(text.contains("--config.file"), "{args:?} --help:\n{text}");
        assert_eq!(
            entries_without_text(&text),
            Vec::<String>::new(),
            "{args:?} --help:\n{text}"
        );
    }
}

#[test]
fn the_parser_finds_an_option_without_text() {
    let text =
        "Options:\n      --a <A>  Has text.\n      --b <B>\n  -h, --help\n          Print help\n";
    assert_eq!(entries_without_text(text), ["--b <B>"]);
}
