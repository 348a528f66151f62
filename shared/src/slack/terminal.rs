//! Shows Block Kit messages in a terminal roughly as Slack lays them out.

use serde_json::Value;

/// The text as Slack shows it: mrkdwn's entities (`&lt;`, `&gt;`, `&amp;`, which the blocks
/// must carry so customer text cannot mention or link) are displayed as the characters.
fn text_of(v: &Value) -> String {
    v.get("text")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .replace("```", "")
        .replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&amp;", "&")
}

/// Renders blocks as plain text lines.
pub fn render(blocks: &Value) -> String {
    let mut out = String::new();
    let rule = "─".repeat(72);
    out.push_str(&format!("┌{rule}\n"));
    for block in blocks.as_array().map(Vec::as_slice).unwrap_or_default() {
        match block.get("type").and_then(Value::as_str) {
            Some("header") => out.push_str(&format!(
                "│ {}\n│\n",
                text_of(&block["text"]).to_uppercase()
            )),
            Some("section") => {
                if let Some(text) = block.get("text") {
                    for line in text_of(text).lines() {
                        out.push_str(&format!("│ {line}\n"));
                    }
                }
                if let Some(fields) = block.get("fields").and_then(Value::as_array) {
                    for f in fields {
                        out.push_str(&format!("│ {}\n", text_of(f).replace('\n', ": ")));
                    }
                }
                out.push_str("│\n");
            }
            Some("actions") => {
                let buttons: Vec<String> = block["elements"]
                    .as_array()
                    .map(Vec::as_slice)
                    .unwrap_or_default()
                    .iter()
                    .map(|b| format!("[ {} ]", text_of(&b["text"])))
                    .collect();
                out.push_str(&format!("│ {}\n", buttons.join(" ")));
            }
            Some("context") => {
                let parts: Vec<String> = block["elements"]
                    .as_array()
                    .map(Vec::as_slice)
                    .unwrap_or_default()
                    .iter()
                    .map(text_of)
                    .collect();
                out.push_str(&format!("│ {}\n", parts.join(" · ")));
            }
            Some("divider") => out.push_str(&format!("├{rule}\n")),
            _ => {}
        }
    }
    out.push_str(&format!("└{rule}\n"));
    out
}

#[cfg(test)]
mod entity_tests {
    #[test]
    fn escaped_mrkdwn_reads_as_slack_shows_it() {
        let block = serde_json::json!([{"type": "section", "text": {"type": "mrkdwn", "text": "a &lt;b&gt; &amp;lt;"}}]);
        assert!(
            super::render(&block).contains("a <b> &lt;"),
            "{}",
            super::render(&block)
        );
    }
}
