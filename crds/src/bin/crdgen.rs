//! Writes the CRD YAML of every Runnel resource into the Helm chart (`--check`: only compares).

use std::path::PathBuf;
use std::process::ExitCode;

use runnel_crds::generate::{self, CHART_CRDS_DIR};

fn main() -> ExitCode {
    let check = std::env::args().any(|a| a == "--check");
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("..")
        .join(CHART_CRDS_DIR);
    let mut stale = Vec::new();
    for (file, crd) in generate::crds() {
        let path = dir.join(file);
        let yaml = match generate::render(&crd) {
            Ok(yaml) => yaml,
            Err(e) => {
                eprintln!("crdgen: rendering {file}: {e}");
                return ExitCode::FAILURE;
            }
        };
        if std::fs::read_to_string(&path).ok().as_deref() == Some(yaml.as_str()) {
            continue;
        }
        if check {
            stale.push(path.display().to_string());
        } else if let Err(e) =
            std::fs::create_dir_all(&dir).and_then(|()| std::fs::write(&path, yaml))
        {
            eprintln!("crdgen: writing {}: {e}", path.display());
            return ExitCode::FAILURE;
        } else {
            eprintln!("crdgen: wrote {}", path.display());
        }
    }
    if stale.is_empty() {
        ExitCode::SUCCESS
    } else {
        eprintln!(
            "crdgen: out of date (run `cargo run -p runnel-crds --bin crdgen`): {}",
            stale.join(", ")
        );
        ExitCode::FAILURE
    }
}
