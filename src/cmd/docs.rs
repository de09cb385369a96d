//! `regwarden completions SHELL` and `regwarden man`: generated from the clap definitions, so
//! they never drift from the commands.

use super::{Cli, AFTER_HELP};
use anyhow::Context;
use clap::CommandFactory;
use std::io::Write;
use std::path::Path;
use std::process::ExitCode;

pub(super) fn completions(shell: clap_complete::Shell) -> ExitCode {
    let mut cmd = Cli::command();
    clap_complete::generate(shell, &mut cmd, "regwarden", &mut std::io::stdout());
    ExitCode::SUCCESS
}

/// The main page on stdout, or every page (regwarden.1, regwarden-COMMAND.1) into `dir`.
pub(super) fn man(dir: Option<&Path>) -> anyhow::Result<ExitCode> {
    let cmd = Cli::command();
    let page = main_page(cmd.clone())?;
    match dir {
        None => std::io::stdout()
            .write_all(&page)
            .context("cannot write the man page")?,
        Some(dir) => {
            std::fs::create_dir_all(dir)
                .with_context(|| format!("cannot create {}", dir.display()))?;
            clap_mangen::generate_to(cmd, dir)
                .with_context(|| format!("cannot write man pages into {}", dir.display()))?;
            // The main page again, with its EXIT STATUS and ENVIRONMENT sections.
            let main = dir.join("regwarden.1");
            std::fs::write(&main, page)
                .with_context(|| format!("cannot write {}", main.display()))?;
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// clap_mangen's sections, with the exit status and environment as man pages name them
/// instead of clap's one "EXTRA" section.
fn main_page(cmd: clap::Command) -> std::io::Result<Vec<u8>> {
    let cmd = cmd.after_long_help(None::<&str>).after_help(None::<&str>);
    let man = clap_mangen::Man::new(cmd);
    let mut out = Vec::new();
    man.render_title(&mut out)?;
    man.render_name_section(&mut out)?;
    man.render_synopsis_section(&mut out)?;
    man.render_description_section(&mut out)?;
    man.render_options_section(&mut out)?;
    man.render_subcommands_section(&mut out)?;
    for block in AFTER_HELP.split("\n\n") {
        let mut lines = block.lines();
        let title = lines.next().unwrap_or_default().trim_end_matches(':');
        writeln!(out, ".SH {}", roff(&title.to_uppercase()))?;
        for line in lines {
            // "  TERM  text": a tagged paragraph; lines indented deeper continue the text.
            let continued = line.starts_with("   ");
            let line = line.trim_start();
            match line.split_once("  ") {
                Some((term, text)) if !continued => {
                    writeln!(out, ".TP\n\\fB{}\\fR\n{}", roff(term), roff(text.trim()))?
                }
                _ => writeln!(out, "{}", roff(line))?,
            }
        }
    }
    man.render_version_section(&mut out)?;
    Ok(out)
}

/// Text for a roff line: backslashes and hyphens escaped, no line starting with a control
/// character.
fn roff(s: &str) -> String {
    let s = s.replace('\\', "\\e").replace('-', "\\-");
    if s.starts_with('.') || s.starts_with('\'') {
        format!("\\&{s}")
    } else {
        s
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_man_page_has_every_command_and_the_exit_status() {
        let page = String::from_utf8(main_page(Cli::command()).unwrap()).unwrap();
        assert!(page.contains(".TH regwarden 1"), "{page}");
        for section in [
            ".SH NAME",
            ".SH SYNOPSIS",
            ".SH EXIT STATUS",
            ".SH ENVIRONMENT",
        ] {
            assert!(page.contains(section), "{section} missing:\n{page}");
        }
        for command in [
            "check\\-config",
            "completions",
            "healthcheck",
            "explain",
            "restore",
            "cimd",
        ] {
            assert!(page.contains(command), "{command} missing");
        }
        assert!(page.contains("NO_COLOR"));
    }

    #[test]
    fn completions_cover_every_shell() {
        use clap::ValueEnum;
        for shell in clap_complete::Shell::value_variants() {
            let mut buf = Vec::new();
            clap_complete::generate(*shell, &mut Cli::command(), "regwarden", &mut buf);
            let text = String::from_utf8(buf).unwrap();
            assert!(text.contains("check-config"), "{shell}: {text}");
        }
    }
}
