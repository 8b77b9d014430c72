//! Rendering of syntax errors: Nix's own layout, and a `codespan-reporting` rendering.

use super::lower::line_col;
use super::parser::ParseError;

/// Render like Nix 2.8:
/// ```text
/// error: <message>
///
///        at FILE:LINE:COL:
///
///             1| source line
///              |      ^
/// ```
pub fn render_nix_style(src: &str, file: &str, e: &ParseError) -> String {
    let (line, col) = line_col(src, e.range.start());
    let mut out = format!(
        "error: {}\n\n       at {}:{}:{}:\n\n",
        e.message, file, line, col
    );
    let lines: Vec<&str> = src.split('\n').collect();
    let width = (line + 1).to_string().len();
    let show = |out: &mut String, n: usize| {
        if let Some(l) = lines.get(n - 1) {
            out.push_str(&format!(
                "{:>w$}| {}\n",
                n,
                l.trim_end_matches('\r'),
                w = width + 12
            ));
        }
    };
    if line > 1 {
        show(&mut out, line - 1);
    }
    if let Some(l) = lines.get(line - 1) {
        show(&mut out, line);
        // caret under the column (tabs kept so the caret lines up)
        let prefix: String = l
            .bytes()
            .take(col - 1)
            .map(|c| if c == b'\t' { '\t' } else { ' ' })
            .collect();
        out.push_str(&format!("{:>w$}| {}^\n", "", prefix, w = width + 12));
    }
    if line < lines.len() {
        show(&mut out, line + 1);
    }
    out
}

/// Render with `codespan-reporting` (all errors, no colours).
pub fn render_codespan(src: &str, file: &str, errors: &[ParseError]) -> String {
    use codespan_reporting::diagnostic::{Diagnostic, Label};
    use codespan_reporting::files::SimpleFile;
    use codespan_reporting::term::{self, termcolor::NoColor};
    let f = SimpleFile::new(file, src);
    let mut buf = NoColor::new(Vec::new());
    let config = term::Config::default();
    for e in errors {
        let start = usize::from(e.range.start()).min(src.len());
        let end = usize::from(e.range.end()).clamp(start, src.len());
        let d = Diagnostic::error()
            .with_message(&e.message)
            .with_labels(vec![Label::primary((), start..end)]);
        let _ = term::emit(&mut buf, &config, &f, &d);
    }
    String::from_utf8_lossy(&buf.into_inner()).into_owned()
}
