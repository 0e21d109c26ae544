//! Finds the line of a dotted key path (`qc.min_maf`) in YAML text, so that validation errors
//! can name the line. Block-style mappings only; list items (`- key:`) are searched as children.

/// 1-based line of the last segment of `path` nested under the earlier segments, if present.
pub fn key_line(text: &str, path: &str) -> Option<usize> {
    let segments: Vec<&str> = path.split('.').collect();
    let mut stack: Vec<(usize, String)> = Vec::new();
    for (i, line) in text.lines().enumerate() {
        let content = line.split('#').next().unwrap_or("");
        let trimmed = content.trim_start();
        if trimmed.is_empty() {
            continue;
        }
        let mut indent = content.len() - trimmed.len();
        let mut rest = trimmed;
        if let Some(r) = rest.strip_prefix("- ") {
            indent += 2;
            rest = r.trim_start();
        }
        let Some((key, _)) = rest.split_once(':') else {
            continue;
        };
        let key = key.trim().trim_matches(|c| c == '"' || c == '\'');
        while stack.last().is_some_and(|(ind, _)| *ind >= indent) {
            stack.pop();
        }
        stack.push((indent, key.to_string()));
        if stack.len() == segments.len() && stack.iter().zip(&segments).all(|((_, k), s)| k == s) {
            return Some(i + 1);
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::key_line;

    const YAML: &str = "seed: 3\ncis:\n  window_bp: -5   # bad\nqc:\n  min_maf: 0.6\nmethods:\n  - model: bslmm\n    chains: 0\n";

    #[test]
    fn finds_nested_keys() {
        assert_eq!(key_line(YAML, "seed"), Some(1));
        assert_eq!(key_line(YAML, "cis.window_bp"), Some(3));
        assert_eq!(key_line(YAML, "qc.min_maf"), Some(5));
        assert_eq!(key_line(YAML, "methods.chains"), Some(8));
        assert_eq!(key_line(YAML, "qc.window_bp"), None);
    }
}
