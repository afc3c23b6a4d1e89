//! The HTML shell of a page: the template, the viewer's CSS and JS inlined, and the data
//! embedded as JSON so that the file opens from `file://` with nothing else.
//!
//! Embedding is the one delicate step: the JSON sits inside a `<script>` element, where the
//! HTML parser ends the element at the first `</script` and treats `<!--` specially. Every `<`
//! in the JSON is therefore written as `\u003c` (only strings can hold one, and JSON reads the
//! escape back as the same character), so trace text can never end the element early.

use super::{PageData, DATA_ELEMENT_ID};

const TEMPLATE: &str = include_str!("assets/page.html");
const CSS: &str = include_str!("assets/view.css");
/// The viewer's scripts, in load order: shared helpers first, the bootstrap last.
const SCRIPTS: [&str; 6] = [
    include_str!("assets/common.js"),
    include_str!("assets/spacetime.js"),
    include_str!("assets/spacetime_draw.js"),
    include_str!("assets/spacetime_interact.js"),
    include_str!("assets/history.js"),
    include_str!("assets/main.js"),
];

const DATA_OPEN_PREFIX: &str = "<script type=\"application/json\" id=\"";

/// The whole page for `data`.
pub(super) fn render(data: &PageData) -> String {
    // Serialising plain structs of strings and numbers cannot fail.
    let json = serde_json::to_string(data).unwrap_or_else(|_| "null".to_string());
    let json = json.replace('<', "\\u003c");
    let script: String = SCRIPTS.concat();
    debug_assert!(!script.contains("</script") && !CSS.contains("</style"));
    let data_element =
        format!("{DATA_OPEN_PREFIX}{DATA_ELEMENT_ID}\">{json}</script>", json = json);
    TEMPLATE
        .replace("{{TITLE}}", &escape_html(&data.title))
        .replace("{{CSS}}", CSS)
        .replace("{{DATA}}", &data_element)
        .replace("{{SCRIPT}}", &script)
}

/// The embedded JSON of a page made by [`render`].
pub(super) fn embedded_json(html: &str) -> Option<&str> {
    let open = format!("{DATA_OPEN_PREFIX}{DATA_ELEMENT_ID}\">");
    let start = html.find(&open)? + open.len();
    let length = html[start..].find("</script>")?;
    Some(&html[start..start + length])
}

/// Text for HTML element content or a quoted attribute.
fn escape_html(text: &str) -> String {
    let mut escaped = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => escaped.push_str("&amp;"),
            '<' => escaped.push_str("&lt;"),
            '>' => escaped.push_str("&gt;"),
            '"' => escaped.push_str("&quot;"),
            '\'' => escaped.push_str("&#39;"),
            c => escaped.push(c),
        }
    }
    escaped
}

#[cfg(test)]
mod tests {
    use super::*;

    // Proves text that would end the data element early or inject markup (a `</script>` in a
    // message body, a tag in the title) is embedded inertly and reads back unchanged.
    #[test]
    fn hostile_text_is_embedded_inertly() {
        let title = "a </script><script>alert(1)</script> <!-- b";
        let data =
            PageData { version: 1, title: title.to_string(), spacetime: None, history: None };
        let html = render(&data);
        assert_eq!(html.matches("</script>").count(), html.matches("<script").count());
        assert!(!html.contains("<script>alert"), "{html}");
        let json = embedded_json(&html).expect("the data element");
        let value: serde_json::Value = serde_json::from_str(json).expect("valid JSON");
        assert_eq!(value["title"], title);
    }

    // Proves the page is self-contained: no external script, style, font or image, so it
    // works offline from file://.
    #[test]
    fn page_loads_nothing_from_elsewhere() {
        let data = PageData { version: 1, title: "t".to_string(), spacetime: None, history: None };
        let html = render(&data);
        for needle in ["http://", "https://", "<link", "@import", "url(", " src="] {
            assert!(!html.contains(needle), "the page references {needle}");
        }
    }
}
