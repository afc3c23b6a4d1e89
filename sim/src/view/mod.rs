//! Pictures of a run: one self-contained HTML file per trace (a space-time diagram) or per
//! checked history (a porcupine-style view), opened offline from `file://`.
//!
//! A page is data plus a fixed viewer. Rust does the reading: it turns a trace into lanes,
//! events, messages paired from send to delivery, spans (down, paused, partitioned, clogged)
//! and markers (phases, the failing check), and a history with its linearizability report
//! into rows of operations marked with the longest linearizable prefix and the operation that
//! cannot be placed. That document is embedded as JSON in the page with the viewer's CSS and
//! JS (`assets/`, compiled in with `include_str!`), so the page needs no network, no CDN and no
//! other file. Pairing and span logic live here rather than in the JS so that a test can check
//! a page's structure without a browser, and the JS stays a renderer.
//!
//! The viewer draws on canvases, only what is in view, with a level of detail: routine events
//! (messages, timers, disk) collapse into per-pixel density when there are more than it can
//! show one by one, while faults, failures and workload events stay visible at every zoom.

pub mod history;
mod page;
pub mod spacetime;

use serde::Serialize;

use crate::check::{History, Report};

pub use history::HistoryData;
pub use spacetime::{FailureMark, SpaceTime, SpaceTimeData};

/// The `id` of the `<script type="application/json">` element holding a page's data.
pub const DATA_ELEMENT_ID: &str = "orrery-data";

/// Everything one page shows: a space-time diagram, a history view, or both (a capsule).
#[derive(Debug, Clone, Serialize)]
pub struct PageData {
    /// The version of this document's shape, bumped when the viewer needs a different one.
    pub version: u32,
    pub title: String,
    pub spacetime: Option<SpaceTimeData>,
    pub history: Option<HistoryData>,
}

/// The version of [`PageData`]'s shape.
pub const PAGE_DATA_VERSION: u32 = 1;

/// The space-time page of a trace (what `orrery trace TARGET --html FILE` writes).
pub fn trace_html(view: &SpaceTime<'_>) -> String {
    let spacetime = view.data();
    page::render(&PageData {
        version: PAGE_DATA_VERSION,
        title: spacetime.title.clone(),
        spacetime: Some(spacetime),
        history: None,
    })
}

/// The history page of a checked history (what `orrery check-history FILE --html OUT` writes):
/// one row per client process and operations as bars, per key, with the longest linearizable
/// prefix and the operation that cannot be placed highlighted when the report says the
/// history is not linearizable.
pub fn history_html(title: &str, history: &History, report: &Report) -> String {
    page::render(&PageData {
        version: PAGE_DATA_VERSION,
        title: title.to_string(),
        spacetime: None,
        history: Some(HistoryData::new(history, report)),
    })
}

/// A failure capsule's `index.html`: the space-time view of its trace and, when the run
/// recorded a history, the history view beside it.
pub fn capsule_html(view: &SpaceTime<'_>, history: Option<(&History, &Report)>) -> String {
    let spacetime = view.data();
    page::render(&PageData {
        version: PAGE_DATA_VERSION,
        title: spacetime.title.clone(),
        spacetime: Some(spacetime),
        history: history.map(|(history, report)| HistoryData::new(history, report)),
    })
}

/// The data a page embeds, read back from its HTML; `None` if `html` is not such a page.
/// Tests and tools use it to check what a page shows without a browser.
pub fn embedded_data(html: &str) -> Option<serde_json::Value> {
    page::embedded_json(html).and_then(|json| serde_json::from_str(json).ok())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::check::{check_history, read_history, ModelName};
    use crate::trace::TraceFile;

    // Proves a capsule page carries both views when it has a history, and a trace page only
    // the space-time one, each readable back from the HTML.
    #[test]
    fn capsule_pages_carry_the_history_beside_the_trace() {
        let file = TraceFile::parse("0.000000000 n0 start incarnation=0\n").expect("parses");
        let history = read_history(b"{:type :invoke, :f :read, :value nil, :process 0, :time 1}")
            .expect("reads");
        let report = check_history(&history, ModelName::Register, 1000).expect("checks");
        let view = SpaceTime::new(&file);
        let capsule = embedded_data(&capsule_html(&view, Some((&history, &report)))).expect("data");
        assert_eq!(capsule["spacetime"]["lanes"][1]["id"], "n0");
        assert_eq!(capsule["history"]["verdict"], "linearizable");
        assert_eq!(capsule["version"], PAGE_DATA_VERSION);
        let trace = embedded_data(&trace_html(&view)).expect("data");
        assert!(trace["history"].is_null() && trace["spacetime"].is_object());
        assert!(embedded_data("<html>not a page</html>").is_none());
    }
}
