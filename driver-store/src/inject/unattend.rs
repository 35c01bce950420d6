//! The sysprep answer file: a `DriverPaths` entry naming the drivers
//! folder, added in place so every byte outside it stays as it was, and
//! the result checked to be well-formed before it replaces the original.

use std::path::Path;

use quick_xml::events::{BytesStart, Event};

use crate::error::{Error, Result};
use crate::target::Arch;

/// The `PnpCustomizationsNonWinPE` passes Marrow writes (unattend reference,
/// "DriverPaths": valid configuration passes).
pub const PASSES: [&str; 2] = ["offlineServicing", "auditSystem"];

const COMPONENT: &str = "Microsoft-Windows-PnpCustomizationsNonWinPE";
const UNATTEND_NS: &str = "urn:schemas-microsoft-com:unattend";
const WCM_NS: &str = "http://schemas.microsoft.com/WMIConfig/2002/State";
const XSI_NS: &str = "http://www.w3.org/2001/XMLSchema-instance";

pub(super) fn decode_answer(path: &Path, bytes: Vec<u8>) -> Result<String> {
    let bytes = bytes
        .strip_prefix(&[0xEF, 0xBB, 0xBF])
        .map(<[u8]>::to_vec)
        .unwrap_or(bytes);
    if bytes.starts_with(&[0xFF, 0xFE]) || bytes.starts_with(&[0xFE, 0xFF]) {
        return Err(Error::AnswerFile {
            path: path.to_path_buf(),
            reason: "UTF-16 answer files are not supported; Windows SIM writes UTF-8".into(),
        });
    }
    String::from_utf8(bytes).map_err(|e| Error::AnswerFile {
        path: path.to_path_buf(),
        reason: format!("not UTF-8: {e}"),
    })
}

pub(super) fn escape(text: &str) -> String {
    quick_xml::escape::escape(text).into_owned()
}

fn path_and_credentials(indent: &str, key: u32, driver_path: &str, declare_wcm: bool) -> String {
    let wcm = if declare_wcm {
        format!(" xmlns:wcm=\"{WCM_NS}\"")
    } else {
        String::new()
    };
    format!(
        "{indent}<PathAndCredentials wcm:action=\"add\" wcm:keyValue=\"{key}\"{wcm}>\n\
         {indent}    <Path>{}</Path>\n\
         {indent}</PathAndCredentials>\n",
        escape(driver_path)
    )
}

fn component(indent: &str, driver_path: &str, arch: Arch) -> String {
    format!(
        "{indent}<component name=\"{COMPONENT}\" processorArchitecture=\"{}\" \
         publicKeyToken=\"31bf3856ad364e35\" language=\"neutral\" versionScope=\"nonSxS\" \
         xmlns:wcm=\"{WCM_NS}\" xmlns:xsi=\"{XSI_NS}\">\n\
         {indent}    <DriverPaths>\n{}{indent}    </DriverPaths>\n\
         {indent}</component>\n",
        arch.inf_name(),
        path_and_credentials(&format!("{indent}        "), 1, driver_path, false)
    )
}

fn settings(indent: &str, pass: &str, driver_path: &str, arch: Arch) -> String {
    format!(
        "{indent}<settings pass=\"{pass}\">\n{}{indent}</settings>\n",
        component(&format!("{indent}    "), driver_path, arch)
    )
}

/// A new answer file holding only the driver paths.
pub fn new_answer_file(driver_path: &str, arch: Arch) -> String {
    let mut out =
        format!("<?xml version=\"1.0\" encoding=\"utf-8\"?>\n<unattend xmlns=\"{UNATTEND_NS}\">\n");
    for pass in PASSES {
        out.push_str(&settings("    ", pass, driver_path, arch));
    }
    out.push_str("</unattend>\n");
    out
}

/// An element the edit cares about, with where it is in the text.
pub(super) struct Node {
    pub(super) local: String,
    pub(super) attrs: Vec<(String, String)>,
    /// Byte offset of its `<`.
    pub(super) start: usize,
    /// Byte offset just after its start tag (or the whole empty element).
    pub(super) after_start: usize,
    /// Byte offset of its end tag's `<`; for an empty element, `start`.
    pub(super) end: Option<usize>,
    pub(super) empty: bool,
    pub(super) parent: Option<usize>,
    pub(super) text: String,
}

impl Node {
    pub(super) fn attr(&self, local: &str) -> Option<&str> {
        self.attrs
            .iter()
            .find(|(k, _)| {
                !k.starts_with("xmlns") && (k == local || k.ends_with(&format!(":{local}")))
            })
            .map(|(_, v)| v.as_str())
    }
}

pub(super) fn parse_nodes(text: &str) -> std::result::Result<Vec<Node>, String> {
    let mut reader = quick_xml::Reader::from_str(text);
    reader.config_mut().check_end_names = true;
    let mut nodes: Vec<Node> = Vec::new();
    let mut stack: Vec<usize> = Vec::new();
    let attrs_of = |e: &BytesStart| -> std::result::Result<Vec<(String, String)>, String> {
        e.attributes()
            .map(|a| {
                let a = a.map_err(|e| e.to_string())?;
                let key = String::from_utf8_lossy(a.key.as_ref()).to_string();
                let value = a.unescape_value().map_err(|e| e.to_string())?.to_string();
                Ok((key, value))
            })
            .collect()
    };
    loop {
        let before = reader.buffer_position() as usize;
        let event = reader.read_event().map_err(|e| {
            format!(
                "not well-formed XML at byte {}: {e}",
                reader.error_position()
            )
        })?;
        let after = reader.buffer_position() as usize;
        match event {
            Event::Start(e) | Event::Empty(e) => {
                let empty = text[before..after].trim_end().ends_with("/>");
                let node = Node {
                    local: String::from_utf8_lossy(e.local_name().as_ref()).to_string(),
                    attrs: attrs_of(&e)?,
                    start: before,
                    after_start: after,
                    end: empty.then_some(before),
                    empty,
                    parent: stack.last().copied(),
                    text: String::new(),
                };
                nodes.push(node);
                if !empty {
                    stack.push(nodes.len() - 1);
                }
            }
            Event::End(_) => {
                let i = stack.pop().ok_or("end tag without a start tag")?;
                nodes[i].end = Some(before);
            }
            Event::Text(t) => {
                if let Some(&i) = stack.last() {
                    let s = t.unescape().map_err(|e| e.to_string())?;
                    nodes[i].text.push_str(&s);
                }
            }
            Event::CData(c) => {
                if let Some(&i) = stack.last() {
                    nodes[i].text.push_str(&String::from_utf8_lossy(&c));
                }
            }
            Event::Eof => break,
            _ => {}
        }
    }
    if !stack.is_empty() {
        return Err("unclosed element at end of file".into());
    }
    Ok(nodes)
}

/// The whitespace before the line that holds byte `at`.
pub(super) fn indent_at(text: &str, at: usize) -> String {
    let line_start = text[..at].rfind('\n').map_or(0, |i| i + 1);
    text[line_start..at]
        .chars()
        .take_while(|c| c.is_whitespace())
        .collect()
}

/// Adds the driver path to every pass in [`PASSES`] that lacks it, editing
/// only where the new elements go. Returns the new text and the passes that
/// changed.
pub fn add_driver_path(
    text: &str,
    driver_path: &str,
    arch: Arch,
) -> std::result::Result<(String, Vec<String>), String> {
    let nodes = parse_nodes(text)?;
    let root = nodes
        .iter()
        .position(|n| n.parent.is_none())
        .ok_or("no root element")?;
    if nodes[root].local != "unattend" {
        return Err(format!(
            "root element is <{}>, not <unattend>",
            nodes[root].local
        ));
    }
    let children = |parent: usize, local: &str| -> Vec<usize> {
        (0..nodes.len())
            .filter(|&i| nodes[i].parent == Some(parent) && nodes[i].local == local)
            .collect()
    };
    let wcm_in_scope = |mut i: usize| loop {
        if nodes[i]
            .attrs
            .iter()
            .any(|(k, v)| k == "xmlns:wcm" && v == WCM_NS)
        {
            return true;
        }
        match nodes[i].parent {
            Some(p) => i = p,
            None => return false,
        }
    };
    // What goes into which element, in order: (element, inner text).
    let mut inserts: Vec<(usize, String)> = Vec::new();
    let mut added = Vec::new();
    let inner_indent = |i: usize| format!("{}    ", indent_at(text, nodes[i].start));
    for pass in PASSES {
        let settings_el = children(root, "settings")
            .into_iter()
            .find(|&i| nodes[i].attr("pass") == Some(pass));
        let Some(s) = settings_el else {
            inserts.push((root, settings(&inner_indent(root), pass, driver_path, arch)));
            added.push(pass.to_string());
            continue;
        };
        let comp = children(s, "component")
            .into_iter()
            .find(|&i| nodes[i].attr("name") == Some(COMPONENT));
        let Some(c) = comp else {
            inserts.push((s, component(&inner_indent(s), driver_path, arch)));
            added.push(pass.to_string());
            continue;
        };
        let Some(dp) = children(c, "DriverPaths").into_iter().next() else {
            let declare = !wcm_in_scope(c);
            let ind = inner_indent(c);
            inserts.push((
                c,
                format!(
                    "{ind}<DriverPaths>\n{}{ind}</DriverPaths>\n",
                    path_and_credentials(&format!("{ind}    "), 1, driver_path, declare)
                ),
            ));
            added.push(pass.to_string());
            continue;
        };
        let entries = children(dp, "PathAndCredentials");
        let present = entries.iter().any(|&e| {
            children(e, "Path")
                .iter()
                .any(|&p| nodes[p].text.trim().eq_ignore_ascii_case(driver_path))
        });
        if present {
            continue;
        }
        // keyValue must be unique within the list (wcm list semantics).
        let key = entries
            .iter()
            .filter_map(|&e| nodes[e].attr("keyValue")?.trim().parse::<u32>().ok())
            .max()
            .unwrap_or(0)
            + 1;
        let declare = !wcm_in_scope(dp);
        inserts.push((
            dp,
            path_and_credentials(&inner_indent(dp), key, driver_path, declare),
        ));
        added.push(pass.to_string());
    }
    let out = insert_into(text, &nodes, &inserts);
    // The edit must leave a well-formed answer file, or nothing is written.
    parse_nodes(&out).map_err(|e| format!("edit produced invalid XML ({e}); left unchanged"))?;
    Ok((out, added))
}

/// `text` with each insert's inner text added at the end of its element
/// (an empty element is opened up for it); every other byte stays.
pub(super) fn insert_into(text: &str, nodes: &[Node], inserts: &[(usize, String)]) -> String {
    // One edit per element: (offset, bytes to remove, text to insert).
    let mut edits: Vec<(usize, usize, String)> = Vec::new();
    let mut targets: Vec<usize> = inserts.iter().map(|(i, _)| *i).collect();
    targets.sort_unstable();
    targets.dedup();
    for i in targets {
        let inner: String = inserts
            .iter()
            .filter(|(n, _)| *n == i)
            .map(|(_, t)| t.as_str())
            .collect();
        let n = &nodes[i];
        let own_indent = indent_at(text, n.start);
        if n.empty {
            // `<x a="b"/>` becomes `<x a="b">` + inner + `</x>`.
            let tag = &text[n.start..n.after_start];
            let open = tag.trim_end().trim_end_matches("/>").trim_end();
            let name = tag[1..]
                .split(|c: char| c.is_whitespace() || c == '/' || c == '>')
                .next()
                .unwrap_or("");
            edits.push((
                n.start,
                tag.len(),
                format!("{open}>\n{inner}{own_indent}</{name}>"),
            ));
        } else {
            let end = n.end.expect("closed element");
            let line_start = text[..end].rfind('\n').map_or(0, |p| p + 1);
            if text[line_start..end].trim().is_empty() {
                // The end tag is on its own line: insert whole lines before it.
                edits.push((line_start, 0, inner));
            } else {
                edits.push((end, 0, format!("\n{inner}{own_indent}")));
            }
        }
    }
    apply(text, edits)
}

/// `text` with the edits (offset, bytes to remove, text to insert) made,
/// last first so the earlier offsets still hold.
pub(super) fn apply(text: &str, mut edits: Vec<(usize, usize, String)>) -> String {
    edits.sort_by_key(|e| std::cmp::Reverse(e.0));
    let mut out = text.to_string();
    for (at, remove, insert) in edits {
        out.replace_range(at..at + remove, &insert);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    const PATH: &str = r"C:\Drivers\marrow";

    fn paths_in(text: &str, pass: &str) -> Vec<String> {
        let nodes = parse_nodes(text).unwrap();
        let mut out = Vec::new();
        for (i, n) in nodes.iter().enumerate() {
            if n.local != "Path" {
                continue;
            }
            let mut up = n.parent;
            while let Some(p) = up {
                if nodes[p].local == "settings" && nodes[p].attr("pass") == Some(pass) {
                    out.push(nodes[i].text.clone());
                }
                up = nodes[p].parent;
            }
        }
        out
    }

    #[test]
    fn a_new_answer_file_names_the_path_in_both_passes() {
        let text = new_answer_file(PATH, Arch::Amd64);
        for pass in PASSES {
            assert_eq!(paths_in(&text, pass), [PATH]);
        }
    }

    #[test]
    fn an_existing_answer_file_keeps_every_byte_it_had() {
        let original = "<?xml version=\"1.0\" encoding=\"utf-8\"?>\n<unattend xmlns=\"urn:schemas-microsoft-com:unattend\">\n    <!-- keep me -->\n    <settings pass=\"oobeSystem\">\n        <component name=\"Microsoft-Windows-Shell-Setup\" processorArchitecture=\"amd64\" publicKeyToken=\"31bf3856ad364e35\" language=\"neutral\" versionScope=\"nonSxS\">\n            <TimeZone>UTC</TimeZone>\n        </component>\n    </settings>\n</unattend>\n";
        let (edited, added) = add_driver_path(original, PATH, Arch::Amd64).unwrap();
        assert_eq!(added, PASSES);
        for pass in PASSES {
            assert_eq!(paths_in(&edited, pass), [PATH]);
        }
        assert!(edited.contains("<!-- keep me -->"));
        assert!(edited.contains("<TimeZone>UTC</TimeZone>"));
        assert!(edited.starts_with("<?xml version=\"1.0\" encoding=\"utf-8\"?>\n<unattend"));
        // Removing the inserted blocks gives back the original exactly.
        let mut rest = edited.clone();
        for pass in PASSES {
            rest = rest.replacen(&settings("    ", pass, PATH, Arch::Amd64), "", 1);
        }
        assert_eq!(rest, original);
    }

    #[test]
    fn an_existing_driver_paths_list_gets_the_next_key_value() {
        let original = "<unattend xmlns=\"urn:schemas-microsoft-com:unattend\">\n  <settings pass=\"offlineServicing\">\n    <component name=\"Microsoft-Windows-PnpCustomizationsNonWinPE\" xmlns:wcm=\"http://schemas.microsoft.com/WMIConfig/2002/State\">\n      <DriverPaths>\n        <PathAndCredentials wcm:action=\"add\" wcm:keyValue=\"4\"><Path>D:\\Vendor</Path></PathAndCredentials>\n      </DriverPaths>\n    </component>\n  </settings>\n</unattend>";
        let (edited, added) = add_driver_path(original, PATH, Arch::Amd64).unwrap();
        assert_eq!(added, PASSES);
        assert_eq!(paths_in(&edited, "offlineServicing"), [r"D:\Vendor", PATH]);
        assert!(edited.contains("wcm:keyValue=\"5\""), "{edited}");
        assert_eq!(paths_in(&edited, "auditSystem"), [PATH]);
    }

    #[test]
    fn running_twice_adds_nothing_the_second_time() {
        let (once, _) = add_driver_path(
            "<unattend xmlns=\"urn:schemas-microsoft-com:unattend\"/>",
            PATH,
            Arch::X86,
        )
        .unwrap();
        let (twice, added) = add_driver_path(&once, PATH, Arch::X86).unwrap();
        assert!(added.is_empty());
        assert_eq!(once, twice);
        assert!(once.contains("processorArchitecture=\"x86\""));
    }

    #[test]
    fn a_file_that_is_not_an_answer_file_is_refused() {
        assert!(add_driver_path("<html/>", PATH, Arch::Amd64)
            .unwrap_err()
            .contains("not <unattend>"));
        assert!(add_driver_path("<unattend><settings></unattend>", PATH, Arch::Amd64).is_err());
    }

    /// Whatever the answer file holds, the edit returns an error or a
    /// well-formed result; it never panics (deterministic mutations of a
    /// real-looking answer file).
    #[test]
    fn the_edit_never_panics_on_mutated_answer_files() {
        let base = new_answer_file(PATH, Arch::Amd64).replace(PATH, r"D:\Other");
        let base = base.as_bytes();
        let alphabet = b"<>/=\"' !-?[]&;:abxmlnsettingspassPathDriverPathsunattend\n";
        let mut next = marrow_test_support::xorshift(0x9E37_79B9_7F4A_7C15u64);
        for _ in 0..600 {
            let mut bytes = base.to_vec();
            for _ in 0..(1 + next() % 8) {
                let at = next() as usize % bytes.len();
                match next() % 3 {
                    0 => bytes[at] = alphabet[next() as usize % alphabet.len()],
                    1 => {
                        bytes.remove(at);
                    }
                    _ => bytes.insert(at, alphabet[next() as usize % alphabet.len()]),
                }
            }
            let text = String::from_utf8_lossy(&bytes);
            if let Ok((out, _)) = add_driver_path(&text, PATH, Arch::Amd64) {
                assert!(parse_nodes(&out).is_ok());
            }
        }
    }
}
