//! The machine's name in the sysprep answer file: `ComputerName` of the
//! `Microsoft-Windows-Shell-Setup` component in the `specialize` pass,
//! which Windows Setup applies when a generalized image first boots
//! ("ComputerName", unattend reference, learn.microsoft.com: valid passes
//! offlineServicing and specialize; at most 15 characters, since it is
//! also the NetBIOS name). Edited in place like the driver paths: an
//! existing name's text is replaced, a missing element is added, and
//! every other byte stays.

use super::unattend::{apply, escape, indent_at, insert_into, parse_nodes, Node};
use crate::target::Arch;

pub const PASS: &str = "specialize";
const COMPONENT: &str = "Microsoft-Windows-Shell-Setup";
/// NetBIOS names are 15 characters (the 16th byte is the service type).
pub const MAX_LEN: usize = 15;

fn component(indent: &str, name: &str, arch: &str) -> String {
    format!(
        "{indent}<component name=\"{COMPONENT}\" processorArchitecture=\"{}\" \
         publicKeyToken=\"31bf3856ad364e35\" language=\"neutral\" versionScope=\"nonSxS\">\n\
         {indent}    <ComputerName>{}</ComputerName>\n\
         {indent}</component>\n",
        escape(arch),
        escape(name)
    )
}

/// Why `name` cannot be a Windows computer name, or `None`.
pub fn refuse(name: &str) -> Option<String> {
    if name.is_empty() || name.len() > MAX_LEN {
        return Some(format!(
            "computer name {name:?}: Windows takes 1 to {MAX_LEN} characters"
        ));
    }
    if name.chars().all(|c| c.is_ascii_digit()) {
        return Some(format!(
            "computer name {name:?}: Windows refuses a name of digits only"
        ));
    }
    if !name.chars().all(|c| c.is_ascii_alphanumeric() || c == '-') {
        return Some(format!(
            "computer name {name:?}: use letters, digits and '-'"
        ));
    }
    None
}

/// The answer file `text` with `name` as the computer name of the
/// `specialize` pass; the result is checked to be well-formed. A new
/// component takes the architecture the file's own components name
/// (Windows Setup skips a component of another architecture), else
/// `arch`'s.
pub fn set_computer_name(text: &str, name: &str, arch: Arch) -> Result<String, String> {
    if let Some(why) = refuse(name) {
        return Err(why);
    }
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
    let arch = nodes
        .iter()
        .find_map(|n| n.attr("processorArchitecture"))
        .map_or_else(|| arch.inf_name().to_string(), str::to_string);
    let arch = arch.as_str();
    let child = |parent: usize, local: &str, pick: &dyn Fn(&Node) -> bool| {
        (0..nodes.len()).find(|&i| {
            nodes[i].parent == Some(parent) && nodes[i].local == local && pick(&nodes[i])
        })
    };
    let inner = |i: usize| format!("{}    ", indent_at(text, nodes[i].start));
    let out = match child(root, "settings", &|n| n.attr("pass") == Some(PASS)) {
        None => {
            let ind = inner(root);
            let settings = format!(
                "{ind}<settings pass=\"{PASS}\">\n{}{ind}</settings>\n",
                component(&format!("{ind}    "), name, arch)
            );
            insert_into(text, &nodes, &[(root, settings)])
        }
        Some(s) => match child(s, "component", &|n| n.attr("name") == Some(COMPONENT)) {
            None => insert_into(text, &nodes, &[(s, component(&inner(s), name, arch))]),
            Some(c) => match child(c, "ComputerName", &|_| true) {
                None => {
                    let line = format!(
                        "{}<ComputerName>{}</ComputerName>\n",
                        inner(c),
                        escape(name)
                    );
                    insert_into(text, &nodes, &[(c, line)])
                }
                Some(n) => {
                    let node = &nodes[n];
                    let edit = match (node.empty, node.end) {
                        (false, Some(end)) => {
                            (node.after_start, end - node.after_start, escape(name))
                        }
                        _ => (
                            node.start,
                            node.after_start - node.start,
                            format!("<ComputerName>{}</ComputerName>", escape(name)),
                        ),
                    };
                    apply(text, vec![edit])
                }
            },
        },
    };
    parse_nodes(&out).map_err(|e| format!("edit produced invalid XML ({e}); left unchanged"))?;
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names_in(text: &str) -> Vec<String> {
        let nodes = parse_nodes(text).unwrap();
        nodes
            .iter()
            .filter(|n| n.local == "ComputerName")
            .map(|n| n.text.clone())
            .collect()
    }

    #[test]
    fn an_answer_file_without_the_pass_gets_it_and_keeps_the_rest() {
        let original = "<?xml version=\"1.0\" encoding=\"utf-8\"?>\n<unattend xmlns=\"urn:schemas-microsoft-com:unattend\">\n    <!-- keep me -->\n    <settings pass=\"oobeSystem\">\n        <component name=\"Microsoft-Windows-Shell-Setup\">\n            <TimeZone>UTC</TimeZone>\n        </component>\n    </settings>\n</unattend>\n";
        let out = set_computer_name(original, "lab-07", Arch::Amd64).unwrap();
        assert_eq!(names_in(&out), ["lab-07"]);
        assert!(out.contains("<settings pass=\"specialize\">"), "{out}");
        let added = format!(
            "    <settings pass=\"specialize\">\n{}    </settings>\n",
            component("        ", "lab-07", "amd64")
        );
        assert_eq!(out.replacen(&added, "", 1), original);
    }

    #[test]
    fn an_existing_name_is_replaced_in_place() {
        let original = "<unattend xmlns=\"urn:schemas-microsoft-com:unattend\">\n  <settings pass=\"specialize\">\n    <component name=\"Microsoft-Windows-Shell-Setup\">\n      <ComputerName>*</ComputerName>\n      <RegisteredOwner>Lab</RegisteredOwner>\n    </component>\n  </settings>\n</unattend>";
        let out = set_computer_name(original, "ROOM-B-3", Arch::Amd64).unwrap();
        assert_eq!(
            out,
            original.replace("<ComputerName>*<", "<ComputerName>ROOM-B-3<")
        );
        let empty = original.replace("<ComputerName>*</ComputerName>", "<ComputerName/>");
        let out = set_computer_name(&empty, "pc1", Arch::Amd64).unwrap();
        assert_eq!(names_in(&out), ["pc1"]);
        // Setting it twice gives the same file.
        assert_eq!(set_computer_name(&out, "pc1", Arch::Amd64).unwrap(), out);
    }

    #[test]
    fn a_pass_without_the_component_or_the_element_gets_them() {
        let bare = "<unattend xmlns=\"urn:schemas-microsoft-com:unattend\">\n  <settings pass=\"specialize\">\n  </settings>\n</unattend>";
        let out = set_computer_name(bare, "pc1", Arch::X86).unwrap();
        assert_eq!(names_in(&out), ["pc1"]);
        assert!(out.contains("processorArchitecture=\"x86\""), "{out}");
        // An arm64 image's file names its architecture; the new component follows it.
        let arm = "<unattend xmlns=\"urn:schemas-microsoft-com:unattend\"><settings pass=\"oobeSystem\"><component name=\"Microsoft-Windows-International-Core\" processorArchitecture=\"arm64\"/></settings></unattend>";
        let out = set_computer_name(arm, "pc1", Arch::Amd64).unwrap();
        assert!(
            out.contains("Shell-Setup\" processorArchitecture=\"arm64\""),
            "{out}"
        );
        let no_element = "<unattend xmlns=\"urn:schemas-microsoft-com:unattend\"><settings pass=\"specialize\"><component name=\"Microsoft-Windows-Shell-Setup\"/></settings></unattend>";
        assert_eq!(
            names_in(&set_computer_name(no_element, "pc2", Arch::Amd64).unwrap()),
            ["pc2"]
        );
    }

    #[test]
    fn names_windows_refuses_are_refused() {
        let bare = "<unattend xmlns=\"urn:schemas-microsoft-com:unattend\"/>";
        for bad in ["", "a-name-of-16-chr", "12345", "lab_7", "lab.7"] {
            assert!(
                set_computer_name(bare, bad, Arch::Amd64).is_err(),
                "{bad:?}"
            );
        }
        assert!(set_computer_name("<html/>", "pc1", Arch::Amd64)
            .unwrap_err()
            .contains("not <unattend>"));
    }
}
