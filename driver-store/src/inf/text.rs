//! The INF text layer: bytes to characters, characters to sections of
//! logical lines. Follows Microsoft's "General Syntax Rules for INF Files"
//! (learn.microsoft.com, windows-hardware/drivers/install/general-syntax-rules-for-inf-files):
//! `;` starts a comment outside quotes, `\` as the last character of a line
//! (after the comment is removed) continues it, `"` quotes and `""` inside
//! quotes is one quote, `%%` is one percent sign, and section names and keys
//! are case-insensitive. Sections of the same name are merged, as SetupAPI does.

use crate::error::{Error, Result};

/// How the bytes of an INF file were decoded.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum TextEncoding {
    /// UTF-16LE, found by its byte order mark (FF FE) or, without one, by the
    /// zero high bytes of ASCII text.
    Utf16Le,
    /// UTF-16BE, found by its byte order mark (FE FF).
    Utf16Be,
    /// UTF-8 with its byte order mark (EF BB BF).
    Utf8Bom,
    /// Valid UTF-8 without a byte order mark (plain ASCII is reported as this).
    Utf8,
    /// Not valid UTF-8: read as the ANSI code page of Western Windows
    /// installations, windows-1252, which is what SetupAPI does for an ANSI
    /// INF on an en-US system.
    Windows1252,
}

/// Decodes INF bytes to text. `file` names the file in errors.
pub fn decode(file: &str, bytes: &[u8]) -> Result<(String, TextEncoding)> {
    let err = |reason: String| Error::InfEncoding {
        file: file.to_string(),
        reason,
    };
    if let Some(rest) = bytes.strip_prefix(&[0xFF, 0xFE]) {
        return utf16(rest, encoding_rs::UTF_16LE)
            .map(|t| (t, TextEncoding::Utf16Le))
            .map_err(err);
    }
    if let Some(rest) = bytes.strip_prefix(&[0xFE, 0xFF]) {
        return utf16(rest, encoding_rs::UTF_16BE)
            .map(|t| (t, TextEncoding::Utf16Be))
            .map_err(err);
    }
    if let Some(rest) = bytes.strip_prefix(&[0xEF, 0xBB, 0xBF]) {
        return std::str::from_utf8(rest)
            .map(|t| (t.to_string(), TextEncoding::Utf8Bom))
            .map_err(|e| err(format!("UTF-8 byte order mark, but {e}")));
    }
    // UTF-16LE without a BOM: ASCII text with every odd byte zero.
    if bytes.len() >= 4 && bytes[1] == 0 && bytes[3] == 0 && bytes[0] != 0 && bytes[2] != 0 {
        return utf16(bytes, encoding_rs::UTF_16LE)
            .map(|t| (t, TextEncoding::Utf16Le))
            .map_err(err);
    }
    match std::str::from_utf8(bytes) {
        Ok(text) => Ok((text.to_string(), TextEncoding::Utf8)),
        Err(_) => {
            let (text, _) = encoding_rs::WINDOWS_1252.decode_without_bom_handling(bytes);
            Ok((text.into_owned(), TextEncoding::Windows1252))
        }
    }
}

fn utf16(bytes: &[u8], encoding: &'static encoding_rs::Encoding) -> Result<String, String> {
    if !bytes.len().is_multiple_of(2) {
        return Err(format!(
            "{} text has an odd number of bytes ({})",
            encoding.name(),
            bytes.len()
        ));
    }
    let (text, had_errors) = encoding.decode_without_bom_handling(bytes);
    if had_errors {
        return Err(format!("invalid {} (unpaired surrogate)", encoding.name()));
    }
    Ok(text.into_owned())
}

/// One logical line: physical lines joined by `\` continuations, comment
/// removed, split into an optional key and comma-separated fields. Fields
/// keep their quotes and `%` tokens; [`crate::inf::Inf`] resolves them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RawLine {
    /// 1-based number of the first physical line.
    pub line: usize,
    /// The text before an unquoted `=`, trimmed, if there is one.
    pub key: Option<String>,
    /// The comma-separated fields after the `=` (or of the whole line), trimmed.
    pub fields: Vec<String>,
}

/// A section and its lines, in file order. Duplicate sections are merged.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RawSection {
    /// The name as first written (matching is case-insensitive).
    pub name: String,
    /// 1-based line of the first `[name]` header.
    pub line: usize,
    pub lines: Vec<RawLine>,
}

/// Splits INF text into sections. `file` names the file in errors.
pub fn sections(file: &str, text: &str) -> Result<Vec<RawSection>> {
    let err = |line: usize, reason: &str| Error::Inf {
        file: file.to_string(),
        line,
        reason: reason.to_string(),
    };
    let mut sections: Vec<RawSection> = Vec::new();
    let mut current: Option<usize> = None;
    let mut physical = text.lines().enumerate().peekable();
    while let Some((index, first)) = physical.next() {
        let number = index + 1;
        let mut logical = String::new();
        let mut piece = strip_comment(first).map_err(|r| err(number, r))?;
        // `\` at the very end (after the comment is gone) joins the next line.
        loop {
            let trimmed = piece.trim_end();
            match trimmed.strip_suffix('\\') {
                Some(head) => {
                    logical.push_str(head);
                    match physical.next() {
                        Some((next_index, next)) => {
                            piece = strip_comment(next).map_err(|r| err(next_index + 1, r))?;
                        }
                        None => return Err(err(number, "line continuation at end of file")),
                    }
                }
                _ => {
                    logical.push_str(trimmed);
                    break;
                }
            }
        }
        let logical = logical.trim();
        if logical.is_empty() {
            continue;
        }
        if let Some(rest) = logical.strip_prefix('[') {
            let Some(end) = rest.find(']') else {
                return Err(err(number, "section header without a closing ]"));
            };
            if !rest[end + 1..].trim().is_empty() {
                return Err(err(number, "text after a section header"));
            }
            let name = rest[..end].trim();
            if name.is_empty() {
                return Err(err(number, "empty section name"));
            }
            let existing = sections
                .iter()
                .position(|s| s.name.eq_ignore_ascii_case(name));
            current = Some(existing.unwrap_or_else(|| {
                sections.push(RawSection {
                    name: name.to_string(),
                    line: number,
                    lines: Vec::new(),
                });
                sections.len() - 1
            }));
            continue;
        }
        let Some(section) = current else {
            return Err(err(number, "text before the first section header"));
        };
        let (key, fields) = split_line(logical);
        sections[section].lines.push(RawLine {
            line: number,
            key,
            fields,
        });
    }
    Ok(sections)
}

/// Removes a `;` comment that is outside quotes. An unterminated quote is an
/// error: SetupAPI would otherwise swallow the rest of the line silently.
fn strip_comment(line: &str) -> Result<String, &'static str> {
    let mut in_quote = false;
    for (i, c) in line.char_indices() {
        match c {
            '"' => in_quote = !in_quote,
            ';' if !in_quote => return Ok(line[..i].to_string()),
            _ => {}
        }
    }
    if in_quote {
        return Err("unterminated quoted string");
    }
    Ok(line.to_string())
}

/// Splits a comment-free logical line at the first unquoted `=` and at
/// unquoted commas. `""` inside quotes toggles twice, so it needs no special
/// case here.
fn split_line(line: &str) -> (Option<String>, Vec<String>) {
    let mut key = None;
    let mut fields = Vec::new();
    let mut field = String::new();
    let mut in_quote = false;
    for c in line.chars() {
        match c {
            '"' => {
                in_quote = !in_quote;
                field.push(c);
            }
            '=' if !in_quote && key.is_none() && fields.is_empty() => {
                key = Some(field.trim().to_string());
                field.clear();
            }
            ',' if !in_quote => {
                fields.push(field.trim().to_string());
                field.clear();
            }
            _ => field.push(c),
        }
    }
    fields.push(field.trim().to_string());
    (key, fields)
}

/// Resolves one field: removes quotes (`""` inside quotes is `"`), turns
/// `%%` into `%` and replaces `%token%` with `lookup(token)`. A token the
/// lookup does not know stays as written (DIRIDs such as `%12%` are resolved
/// by Windows at install time, not from `[Strings]`) and is reported through
/// `unresolved`.
pub fn resolve(
    field: &str,
    lookup: &dyn Fn(&str) -> Option<String>,
    unresolved: &mut dyn FnMut(&str),
) -> String {
    let chars: Vec<char> = field.chars().collect();
    let mut out = String::with_capacity(field.len());
    let mut in_quote = false;
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        match c {
            '"' if in_quote && chars.get(i + 1) == Some(&'"') => {
                out.push('"');
                i += 2;
                continue;
            }
            '"' => in_quote = !in_quote,
            '%' if chars.get(i + 1) == Some(&'%') => {
                out.push('%');
                i += 2;
                continue;
            }
            '%' => match chars[i + 1..].iter().position(|&c| c == '%') {
                Some(len) => {
                    let token: String = chars[i + 1..i + 1 + len].iter().collect();
                    match lookup(&token) {
                        Some(value) => out.push_str(&value),
                        None => {
                            unresolved(&token);
                            out.push('%');
                            out.push_str(&token);
                            out.push('%');
                        }
                    }
                    i += len + 2;
                    continue;
                }
                None => out.push('%'),
            },
            _ => out.push(c),
        }
        i += 1;
    }
    out
}

/// A `[Strings]` value: quotes removed and `""` unescaped, `%` kept as is.
pub fn unquote(field: &str) -> String {
    let chars: Vec<char> = field.chars().collect();
    let mut out = String::with_capacity(field.len());
    let mut in_quote = false;
    let mut i = 0;
    while i < chars.len() {
        match chars[i] {
            '"' if in_quote && chars.get(i + 1) == Some(&'"') => {
                out.push('"');
                i += 1;
            }
            '"' => in_quote = !in_quote,
            c => out.push(c),
        }
        i += 1;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn one(text: &str) -> RawLine {
        let s = sections("t.inf", &format!("[S]\n{text}\n")).unwrap();
        s[0].lines[0].clone()
    }

    #[test]
    fn semicolon_inside_quotes_is_not_a_comment() {
        let l = one(r#"Desc = "LSI Ultra3; 53C1010-33" ; comment"#);
        assert_eq!(l.key.as_deref(), Some("Desc"));
        assert_eq!(l.fields, [r#""LSI Ultra3; 53C1010-33""#]);
    }

    #[test]
    fn comma_inside_quotes_does_not_split_fields() {
        let l = one(r#"HKR, "a,b", c"#);
        assert_eq!(l.key, None);
        assert_eq!(l.fields, ["HKR", r#""a,b""#, "c"]);
    }

    #[test]
    fn a_comment_right_after_a_closing_quote_is_removed() {
        let l = one(r#"Tx = "Tx Enabled";"#);
        assert_eq!(l.fields, [r#""Tx Enabled""#]);
    }

    #[test]
    fn backslash_continues_a_line_but_not_inside_a_comment() {
        let s = sections(
            "t.inf",
            "[S]\nA = 1, \\\n 2\nB = %12%\\x.sys ;%windir%\\\nC = 3\n",
        )
        .unwrap();
        let lines = &s[0].lines;
        assert_eq!(lines.len(), 3);
        assert_eq!(lines[0].fields, ["1", "2"]);
        assert_eq!(lines[1].fields, ["%12%\\x.sys"]);
        assert_eq!(lines[2].key.as_deref(), Some("C"));
    }

    #[test]
    fn sections_of_the_same_name_are_merged_case_insensitively() {
        let s = sections("t.inf", "[Strings]\na=1\n[Other]\n[STRINGS]\nb=2\n").unwrap();
        assert_eq!(s.len(), 2);
        assert_eq!(s[0].lines.len(), 2);
    }

    #[test]
    fn tokens_resolve_and_double_percent_is_one_percent() {
        let lookup = |t: &str| (t.eq_ignore_ascii_case("name")).then(|| "Intel".to_string());
        let mut missing = Vec::new();
        let out = resolve(r#""%Name% 100%% ""ok"" %12%""#, &lookup, &mut |t| {
            missing.push(t.to_string())
        });
        assert_eq!(out, r#"Intel 100% "ok" %12%"#);
        assert_eq!(missing, ["12"]);
    }

    #[test]
    fn utf16le_with_bom_decodes() {
        let mut bytes = vec![0xFF, 0xFE];
        for u in "[Version]\r\n".encode_utf16() {
            bytes.extend_from_slice(&u.to_le_bytes());
        }
        let (text, enc) = decode("t.inf", &bytes).unwrap();
        assert_eq!(enc, TextEncoding::Utf16Le);
        assert_eq!(text, "[Version]\r\n");
    }

    #[test]
    fn invalid_utf8_is_read_as_windows_1252() {
        let (text, enc) = decode("t.inf", b"[Strings]\nA=\"Caf\xe9\"\n").unwrap();
        assert_eq!(enc, TextEncoding::Windows1252);
        assert!(text.contains("Café"));
    }
}
