//! `orrery check-history`: a recorded history checked for linearizability.

use std::path::Path;

use crate::check::{check_edn, ModelName};

use super::{write_new_file, Status};

pub(super) fn check_history(
    model: &str,
    file: &Path,
    steps_max: u64,
    html: Option<&Path>,
) -> Status {
    let model: ModelName = match model.parse() {
        Ok(model) => model,
        Err(error) => return Status::BadInput(format!("{error}")),
    };
    let bytes = match std::fs::read(file) {
        Ok(bytes) => bytes,
        Err(error) => return Status::BadInput(format!("{}: {error}", file.display())),
    };
    match check_edn(&bytes, model, steps_max) {
        Ok(report) => {
            println!("{report}");
            if let Some(out) = html {
                // check_edn read the same bytes without error, so reading them again succeeds.
                let history = crate::check::read_history(&bytes).unwrap_or_default();
                let title = format!("{} ({model})", file.display());
                let page = crate::view::history_html(&title, &history, &report);
                if let Err(message) = write_new_file(out, &page) {
                    return Status::BadInput(message);
                }
            }
            match report.verdict {
                crate::check::Verdict::Linearizable => Status::Passed,
                _ => Status::Failed,
            }
        }
        Err(error) => Status::BadInput(format!("{}:{error}", file.display())),
    }
}
