//! Small pieces of HTML the pages share: escaping, sizes, times (relative,
//! with the absolute time on hover), state badges and progress bars.
//! Every value that came from a user or a machine goes through [`esc`].

/// Text made safe for HTML element content and quoted attributes.
pub fn esc(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// A path segment with everything but unreserved bytes percent-encoded
/// (RFC 3986 §2.3), for links built from names.
pub fn seg(s: &str) -> String {
    let mut out = String::new();
    for b in s.bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => {
                out.push(b as char)
            }
            _ => out.push_str(&format!("%{b:02X}")),
        }
    }
    out
}

/// `1.5 GiB`.
pub fn bytes(n: u64) -> String {
    image_format::human(n)
}

/// `Unix seconds` as `YYYY-MM-DD HH:MM UTC`.
pub fn absolute(t: i64) -> String {
    crate::when::format_time(t) + " UTC"
}

/// How long ago (or ahead) `t` is from `now`, in words.
pub fn relative(t: i64, now: i64) -> String {
    let d = now - t;
    let (n, ago) = if d >= 0 { (d, true) } else { (-d, false) };
    let words = match n {
        0..=9 => return "just now".into(),
        10..=59 => format!("{n} s"),
        60..=3599 => format!("{} min", n / 60),
        3600..=86_399 => format!("{} h", n / 3600),
        _ => format!("{} d", n / 86_400),
    };
    match ago {
        true => format!("{words} ago"),
        false => format!("in {words}"),
    }
}

/// A `<time>` showing the relative time, the absolute one on hover; the
/// script keeps the words current.
pub fn time(t: i64, now: i64) -> String {
    format!(
        "<time data-t=\"{t}\" title=\"{}\">{}</time>",
        esc(&absolute(t)),
        esc(&relative(t, now))
    )
}

/// `<time>` or a dash.
pub fn time_opt(t: Option<i64>, now: i64) -> String {
    t.map_or_else(|| "–".into(), |t| time(t, now))
}

/// A coloured badge for a task, session or outcome state.
pub fn badge(state: &str) -> String {
    let class = match state {
        "done" | "ok" | "live" => "ok",
        "failed" | "broken" | "interrupted" => "bad",
        "running" | "receiving" | "booting" | "scanning" | "ready" | "unicast" => "run",
        "cancelled" | "revoked" | "expired" | "paused" | "away" => "off",
        _ => "wait",
    };
    format!(
        "<span class=\"badge {class}\" data-state>{}</span>",
        esc(state)
    )
}

/// A progress bar at `done` of `total`, with its label.
pub fn bar(done: u64, total: u64, label: &str) -> String {
    let pct = match total {
        0 => 0.0,
        t => (done as f64 * 100.0 / t as f64).min(100.0),
    };
    format!(
        "<div class=\"bar\" role=\"progressbar\" aria-valuenow=\"{pct:.0}\" aria-valuemin=\"0\" \
         aria-valuemax=\"100\"><div class=\"fill\" style=\"width:{pct:.1}%\"></div></div>\
         <div class=\"bar-label\" data-label>{}</div>",
        esc(label)
    )
}

/// The progress bar of a task view's `progress` (and its final state).
pub fn task_bar(progress: Option<&serde_json::Value>, state: &str) -> String {
    let p = progress
        .and_then(|p| serde_json::from_value::<marrow_protocol::api::Progress>(p.clone()).ok());
    match (state, p) {
        ("done", _) => bar(1, 1, "done"),
        (_, Some(p)) => {
            let eta = p
                .eta_secs
                .map(|s| format!(", {s} s left"))
                .unwrap_or_default();
            bar(
                p.done_bytes,
                p.total_bytes,
                &format!(
                    "{} {} of {}, {}/s{eta}",
                    p.phase,
                    bytes(p.done_bytes),
                    bytes(p.total_bytes),
                    bytes(p.rate)
                ),
            )
        }
        ("pending", None) => bar(0, 1, "waiting for the machine to boot"),
        (_, None) => bar(0, 1, state),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn markup_in_names_is_escaped_and_links_encoded() {
        assert_eq!(esc("<b a=\"1\">'&"), "&lt;b a=&quot;1&quot;&gt;&#39;&amp;");
        assert_eq!(seg("win11@ab c/d"), "win11%40ab%20c%2Fd");
    }

    #[test]
    fn times_read_as_words() {
        assert_eq!(relative(100, 105), "just now");
        assert_eq!(relative(0, 90), "1 min ago");
        assert_eq!(relative(0, 7200), "2 h ago");
        assert_eq!(relative(200_000, 0), "in 2 d");
    }

    #[test]
    fn a_bar_is_clamped_and_labelled() {
        let b = bar(150, 100, "x<y");
        assert!(b.contains("width:100.0%") && b.contains("x&lt;y"), "{b}");
        assert!(bar(1, 0, "").contains("width:0.0%"));
    }
}
