//! The chart's CRD YAML is what the types give, and small enough for `kubectl apply`.

use std::path::PathBuf;

use runnel_crds::generate::{self, ANNOTATION_LIMIT, CHART_CRDS_DIR};

#[test]
fn chart_crds_match_the_types() {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("..")
        .join(CHART_CRDS_DIR);
    for (file, crd) in generate::crds() {
        let path = dir.join(file);
        let on_disk = std::fs::read_to_string(&path)
            .unwrap_or_else(|e| panic!("reading {}: {e}", path.display()));
        let generated = generate::render(&crd).unwrap();
        assert!(
            on_disk == generated,
            "{} is out of date: run `cargo run -p runnel-crds --bin crdgen`",
            path.display()
        );
    }
}

#[test]
fn crds_fit_in_the_last_applied_annotation() {
    for (file, crd) in generate::crds() {
        let size = generate::applied_size(&crd).unwrap();
        eprintln!(
            "{file}: {size} bytes as JSON ({:.1}% of {ANNOTATION_LIMIT})",
            100.0 * size as f64 / ANNOTATION_LIMIT as f64
        );
        // Half the limit leaves room for the metadata kubectl adds and for growth.
        assert!(
            size < ANNOTATION_LIMIT / 2,
            "{file} is {size} bytes as JSON"
        );
    }
}
