// sqlx::migrate! embeds the migration files at compile time; this makes Cargo rebuild when
// one is added or changed, not only when a Rust file changes.
//
// `regwarden --version` names the commit it was built from: REGWARDEN_BUILD_COMMIT when set
// (image builds, where .git is absent), else `git rev-parse --short HEAD`, else "unknown".
use std::process::Command;

fn main() {
    println!("cargo:rerun-if-changed=migrations");
    println!("cargo:rerun-if-env-changed=REGWARDEN_BUILD_COMMIT");
    let commit = std::env::var("REGWARDEN_BUILD_COMMIT")
        .ok()
        .filter(|c| !c.trim().is_empty())
        .or_else(git_commit)
        .unwrap_or_else(|| "unknown".to_owned());
    println!("cargo:rustc-env=REGWARDEN_COMMIT={}", commit.trim());
}

fn git_commit() -> Option<String> {
    let git = |args: &[&str]| {
        let out = Command::new("git").args(args).output().ok()?;
        out.status
            .success()
            .then(|| String::from_utf8_lossy(&out.stdout).trim().to_owned())
    };
    let head = git(&["rev-parse", "--short=12", "HEAD"])?;
    // Rebuild when HEAD moves (a commit, a checkout), so the version never names a stale one.
    // --git-path finds the files in worktrees too.
    let mut watch = vec!["HEAD".to_owned(), "packed-refs".to_owned()];
    watch.extend(git(&["symbolic-ref", "-q", "HEAD"]));
    for f in watch {
        // A missing file would make Cargo rerun this script, and rebuild, every time.
        let path =
            git(&["rev-parse", "--git-path", &f]).filter(|p| std::path::Path::new(p).exists());
        if let Some(path) = path {
            println!("cargo:rerun-if-changed={path}");
        }
    }
    Some(head)
}
