//! `orrery check-history`: a recorded history checked for linearizability.

use std::path::Path;

use crate::check::{check_edn, ModelName};

use super::Status;

pub(super) fn check_history(model: &str, file: &Path, steps_max: u64) -> Status {
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
            match report.verdict {
                crate::check::Verdict::Linearizable => Status::Passed,
                _ => Status::Failed,
            }
        }
        Err(error) => Status::BadInput(format!("{}:{error}", file.display())),
    }
}
