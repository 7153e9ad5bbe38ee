//! The program that opens README's "Writing applications" is `examples/first_app.rs`,
//! word for word: cargo compiles the example, so the README's program compiles. It must
//! need no crate but `socket-api` (and std).

#![forbid(unsafe_code)]

use std::path::Path;

fn read(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// The body of the first fenced code block after the heading that starts with `heading`,
/// with its fence's info string.
fn first_block_after<'a>(text: &'a str, heading: &str) -> Option<(&'a str, &'a str)> {
    let section = &text[text.find(heading)?..];
    // The section's text before the block: the block must open the section.
    let open = section.find("\n```")? + 1;
    let before = &section[heading.len()..open];
    assert!(
        before.lines().skip(1).all(|l| l.trim().is_empty()),
        "text between '{heading}' and its first code block: {before:?}"
    );
    let after_fence = &section[open + 3..];
    let (info, body) = after_fence.split_once('\n')?;
    let end = body.find("```\n")?;
    Some((info, &body[..end]))
}

#[test]
fn readme_begins_its_application_section_with_first_app_verbatim() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let readme = read(&root.join("../README.md"));
    let program = read(&root.join("examples/first_app.rs"));
    let (info, block) = first_block_after(&readme, "## Writing applications")
        .expect("README has a '## Writing applications' section with a code block");
    assert_eq!(info, "rust");
    assert_eq!(
        block, program,
        "README's program and examples/first_app.rs differ"
    );
    assert!(program.contains("fn main()"));
}

#[test]
fn first_app_depends_on_socket_api_alone() {
    let program = read(&Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/first_app.rs"));
    for line in program.lines().map(str::trim) {
        if let Some(path) = line.strip_prefix("use ") {
            let krate = path.split("::").next().unwrap_or_default();
            assert!(
                ["std", "socket_api"].contains(&krate),
                "first_app uses crate {krate:?}: {line}"
            );
        }
        assert!(!line.starts_with("extern crate"), "{line}");
        for other in ["netif::", "ip::", "arp::", "transport::"] {
            assert!(
                !line.contains(other) || line.contains("socket_api::"),
                "first_app names {other} directly: {line}"
            );
        }
    }
}

/// The proof of "socket-api is its only dependency": a crate of its own, outside this
/// workspace, with the program as its `main.rs` and one dependency, checked offline
/// (everything it needs is in cargo's cache once the workspace has been built). The first
/// run takes about 20 s; its target directory is kept under the workspace's.
#[test]
fn first_app_builds_as_a_crate_of_its_own_with_socket_api_as_only_dependency() {
    let manifest = Path::new(env!("CARGO_MANIFEST_DIR"));
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|| manifest.join("../target"));
    let dir = target.join("standalone-app");
    std::fs::create_dir_all(dir.join("src")).expect("create the app's directory");
    let socket_api = manifest.canonicalize().expect("socket-api's path");
    let toml = format!(
        "[package]\nname = \"first-app\"\nversion = \"0.1.0\"\nedition = \"2021\"\n\n\
         [dependencies]\nsocket-api = {{ path = {:?} }}\n\n\
         # Not a member of any workspace around it.\n[workspace]\n",
        socket_api.display().to_string()
    );
    std::fs::write(dir.join("Cargo.toml"), toml).expect("write Cargo.toml");
    let program = read(&manifest.join("examples/first_app.rs"));
    std::fs::write(dir.join("src/main.rs"), program).expect("write main.rs");
    // The workspace's versions of every crate, so nothing new is needed.
    std::fs::copy(manifest.join("../Cargo.lock"), dir.join("Cargo.lock")).expect("Cargo.lock");
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let out = std::process::Command::new(cargo)
        .current_dir(&dir)
        .args(["check", "--offline", "--quiet", "--target-dir"])
        .arg(dir.join("target"))
        .output()
        .expect("run cargo");
    assert!(
        out.status.success(),
        "cargo check of the standalone app failed:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
}
