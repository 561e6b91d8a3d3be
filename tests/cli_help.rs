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

/// The long options of `help` in the order it lists them.
fn options_in_order(help: &str) -> Vec<&str> {
    help.lines()
        .filter_map(|l| {
            // An option's line starts with it (`--name`, or `-h, --help`); its description may
            // name other options further on.
            let mut words = l.split_whitespace();
            let first = words.next()?;
            if first.starts_with("--") {
                Some(first)
            } else if first.starts_with('-') && first.ends_with(',') {
                words.next().filter(|w| w.starts_with("--"))
            } else {
                None
            }
        })
        .map(|w| w.trim_end_matches(','))
        .filter(|w| *w != "--version")
        .collect()
}

/// A subcommand lists its own options first and the global logging ones after them, not
/// between two of its own.
#[test]
fn global_logging_options_come_after_a_subcommands_own() {
    for args in [
        &["check"][..],
        &["demo"][..],
        &["config", "check"][..],
        &[][..],
    ] {
        let text = help(args);
        let options = options_in_order(&text);
        // clap's own --help may come before or after them.
        let own: Vec<&str> = options.into_iter().filter(|o| *o != "--help").collect();
        let tail = &own[own.len().saturating_sub(2)..];
        assert_eq!(
            tail,
            ["--log.level", "--log.format"],
            "{args:?} --help:\n{text}"
        );
    }
    let check = help(&["check"]);
    let options = options_in_order(&check);
    let at = |o: &str| options.iter().position(|x| *x == o);
    assert_eq!(
        at("--http-port"),
        at("--https-port").map(|i| i + 1),
        "{check}"
    );
}

/// What `check --domain` runs without `--http-path` is said in its help.
#[test]
fn check_help_says_when_the_http_check_runs() {
    let text = help(&["check"]);
    assert!(
        text.contains("HTTP only with --http-path"),
        "check --help:\n{text}"
    );
}

/// README's list of the test command's steps is the script's own: the names of
/// `scripts/test.sh`'s `STEPS`, in order, each item of the list starting with `N. **name**`.
#[test]
fn the_readme_lists_the_test_scripts_steps() {
    let root = env!("CARGO_MANIFEST_DIR");
    let script = std::fs::read_to_string(format!("{root}/scripts/test.sh")).expect("test.sh");
    let steps: Vec<&str> = script
        .lines()
        .skip_while(|l| !l.starts_with("STEPS=("))
        .skip(1)
        .take_while(|l| l.trim() != ")")
        .filter_map(|l| l.trim().strip_prefix('"')?.split_once('|'))
        .map(|(name, _)| name)
        .collect();
    assert!(steps.len() >= 5, "STEPS not found in scripts/test.sh");
    let readme = std::fs::read_to_string(format!("{root}/README.md")).expect("README");
    let listed: Vec<&str> = readme
        .lines()
        .skip_while(|l| !l.starts_with("`bash scripts/test.sh` runs"))
        .take_while(|l| !l.starts_with("It prints each step's time"))
        .filter_map(|l| {
            let (number, rest) = l.split_once(". **")?;
            number.parse::<usize>().ok()?;
            rest.split_once("**").map(|(name, _)| name)
        })
        .collect();
    assert_eq!(
        listed, steps,
        "README's Development list differs from scripts/test.sh's STEPS"
    );
}
