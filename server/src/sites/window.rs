//! `--window 22:00-06:00`: the hours of the day a pull may move bytes, in
//! the server's local time; a window may cross midnight. Pure: the caller
//! gives the minute of the day.

use crate::error::{Error, Result};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Window {
    /// Minutes after midnight: open from `start` to `end`.
    start: u32,
    end: u32,
}

fn minute(text: &str, whole: &str) -> Result<u32> {
    let bad = || {
        Error::Usage(format!(
            "--window {whole:?}: give HH:MM-HH:MM, e.g. 22:00-06:00"
        ))
    };
    let (h, m) = text.trim().split_once(':').ok_or_else(bad)?;
    let (h, m): (u32, u32) = (h.parse().map_err(|_| bad())?, m.parse().map_err(|_| bad())?);
    if h > 23 || m > 59 {
        return Err(bad());
    }
    Ok(h * 60 + m)
}

impl Window {
    pub fn parse(text: &str) -> Result<Window> {
        let (a, b) = text.split_once('-').ok_or_else(|| {
            Error::Usage(format!(
                "--window {text:?}: give HH:MM-HH:MM, e.g. 22:00-06:00"
            ))
        })?;
        let w = Window {
            start: minute(a, text)?,
            end: minute(b, text)?,
        };
        if w.start == w.end {
            return Err(Error::Usage(format!(
                "--window {text:?}: it opens and closes at once; leave --window out to sync at any hour"
            )));
        }
        Ok(w)
    }

    /// Whether the window is open at `minute` of the day (0–1439).
    pub fn is_open(&self, minute: u32) -> bool {
        if self.start < self.end {
            (self.start..self.end).contains(&minute)
        } else {
            minute >= self.start || minute < self.end
        }
    }

    /// Minutes from `minute` until the window next opens (0 when open).
    pub fn minutes_until_open(&self, minute: u32) -> u32 {
        if self.is_open(minute) {
            0
        } else {
            (self.start + 1440 - minute) % 1440
        }
    }
}

impl std::fmt::Display for Window {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{:02}:{:02}-{:02}:{:02}",
            self.start / 60,
            self.start % 60,
            self.end / 60,
            self.end % 60
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_night_window_crosses_midnight() {
        let w = Window::parse("22:00-06:00").unwrap();
        assert_eq!(w.to_string(), "22:00-06:00");
        assert!(w.is_open(22 * 60));
        assert!(w.is_open(3 * 60));
        assert!(!w.is_open(6 * 60));
        assert!(!w.is_open(12 * 60));
        assert_eq!(w.minutes_until_open(21 * 60 + 30), 30);
        assert_eq!(w.minutes_until_open(23 * 60), 0);
        let day = Window::parse("09:30-17:00").unwrap();
        assert!(day.is_open(10 * 60) && !day.is_open(17 * 60) && !day.is_open(0));
        assert_eq!(day.minutes_until_open(18 * 60), 15 * 60 + 30);
    }

    #[test]
    fn named_bad_windows() {
        for bad in [
            "",
            "22:00",
            "25:00-06:00",
            "22:60-06:00",
            "x-y",
            "06:00-06:00",
        ] {
            let e = Window::parse(bad).unwrap_err().to_string();
            assert!(e.contains("--window"), "{bad}: {e}");
        }
    }
}
