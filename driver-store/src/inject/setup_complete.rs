//! `Windows\Setup\Scripts\SetupComplete.cmd`: a `pnputil` line that
//! installs the injected drivers on images sealed to OOBE, which read
//! neither answer-file pass.

use super::package::split;

/// Where Windows Setup looks for the script it runs after setup.
pub const SETUP_COMPLETE: &str = r"Windows\Setup\Scripts\SetupComplete.cmd";

const SCRIPT_MARK: &str = "rem marrow: install the drivers Marrow injected";

/// `SetupComplete.cmd` with the `pnputil` lines first (an existing script
/// may end in `exit`), or `None` when it already has them. Lines end in
/// CRLF, as cmd.exe scripts do.
pub fn setup_complete_script(old: Option<&[u8]>, folder: &str) -> Option<Vec<u8>> {
    let old = old.unwrap_or_default();
    if String::from_utf8_lossy(old).contains(SCRIPT_MARK) {
        return None;
    }
    let folder: Vec<&str> = split(folder).collect();
    let mut out = Vec::new();
    let mut rest = old;
    // Keep a leading `@echo off` first, so our lines do not echo.
    if let Some(end) = old.iter().position(|&b| b == b'\n') {
        if String::from_utf8_lossy(&old[..end])
            .trim()
            .eq_ignore_ascii_case("@echo off")
        {
            out.extend_from_slice(&old[..=end]);
            rest = &old[end + 1..];
        }
    }
    out.extend_from_slice(
        format!(
            "{SCRIPT_MARK}\r\npnputil /add-driver \"%SystemDrive%\\{}\\*.inf\" /subdirs /install\r\n",
            folder.join("\\")
        )
        .as_bytes(),
    );
    out.extend_from_slice(rest);
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_setup_script_gets_the_pnputil_line_once_and_first() {
        let new = setup_complete_script(None, r"Drivers\marrow").unwrap();
        assert_eq!(
            String::from_utf8(new.clone()).unwrap(),
            format!("{SCRIPT_MARK}\r\npnputil /add-driver \"%SystemDrive%\\Drivers\\marrow\\*.inf\" /subdirs /install\r\n")
        );
        assert!(setup_complete_script(Some(&new), r"Drivers\marrow").is_none());
        let theirs = b"@echo off\r\ncall vendor.cmd\r\nexit /b 0\r\n";
        let edited =
            String::from_utf8(setup_complete_script(Some(theirs), "Drivers/marrow").unwrap())
                .unwrap();
        assert!(edited.starts_with("@echo off\r\nrem marrow"), "{edited}");
        assert!(
            edited.ends_with("call vendor.cmd\r\nexit /b 0\r\n"),
            "{edited}"
        );
    }
}
