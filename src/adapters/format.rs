//! Text shaping shared by the chat adapters: aligned tables (a header, a
//! dashed rule, rows) wrapped in code blocks so they stay aligned, and long
//! text cut on line boundaries within a platform's size limit — never inside
//! a character (Korean stays intact), code fences closed and reopened across
//! a cut.

fn is_rule(line: &str) -> bool {
    let t = line.trim();
    !t.is_empty() && t.contains("--") && t.chars().all(|c| c == '-' || c == ' ')
}

/// The text with each aligned table (header line, dashed rule, rows up to a
/// blank line or a `(` note) inside a code block.
pub fn fence_tables(text: &str) -> String {
    let lines: Vec<&str> = text.lines().collect();
    let mut out: Vec<String> = Vec::new();
    let mut i = 0;
    while i < lines.len() {
        if i + 1 < lines.len() && is_rule(lines[i + 1]) && !lines[i].trim().is_empty() {
            let mut end = i + 2;
            while end < lines.len() && !lines[end].trim().is_empty() && !lines[end].starts_with('(')
            {
                end += 1;
            }
            out.push("```".into());
            out.extend(lines[i..end].iter().map(|l| l.to_string()));
            out.push("```".into());
            i = end;
        } else {
            out.push(lines[i].to_string());
            i += 1;
        }
    }
    out.join("\n")
}

/// Cut `text` into pieces of at most `max` characters on line boundaries,
/// closing and reopening a code block that a cut falls inside.
pub fn split(text: &str, max: usize) -> Vec<String> {
    let mut pieces = Vec::new();
    let mut current = String::new();
    let mut in_code = false;
    for line in text.lines() {
        let line_chars = line.chars().count();
        if !current.is_empty() && current.chars().count() + line_chars + 5 > max {
            if in_code {
                current.push_str("```");
            }
            pieces.push(std::mem::take(&mut current));
            if in_code {
                current.push_str("```\n");
            }
        }
        if line_chars > max.saturating_sub(8) {
            // One enormous line: cut it on character boundaries.
            let chars: Vec<char> = line.chars().collect();
            for chunk in chars.chunks(max.saturating_sub(8).max(1)) {
                pieces.push(chunk.iter().collect());
            }
            continue;
        }
        if line.trim() == "```" {
            in_code = !in_code;
        }
        current.push_str(line);
        current.push('\n');
    }
    if !current.trim().is_empty() {
        pieces.push(current);
    }
    pieces
        .into_iter()
        .map(|p| p.trim_end().to_string())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tables_are_fenced() {
        let text = "Cache status\ncache   hit rate\n------  --------\nduckdb  97.3 %\n(sandbox)";
        assert_eq!(
            fence_tables(text),
            "Cache status\n```\ncache   hit rate\n------  --------\nduckdb  97.3 %\n```\n(sandbox)"
        );
    }

    #[test]
    fn pieces_respect_the_limit_keep_lines_whole_and_balance_fences() {
        let line = "캐시 적중률 97.3 % — 정상입니다.";
        let text = format!("```\n{}\n```", vec![line; 500].join("\n"));
        let pieces = split(&text, 2000);
        assert!(pieces.len() > 1);
        let mut total = 0;
        for p in &pieces {
            assert!(p.chars().count() <= 2000, "{}", p.chars().count());
            assert_eq!(p.matches("```").count() % 2, 0);
            total += p.lines().filter(|l| *l == line).count();
        }
        assert_eq!(total, 500, "nothing lost");
    }
}
