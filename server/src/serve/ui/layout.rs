//! The page shell: head, navigation, who is signed in, and the body.

use axum::response::Html;

use super::html::esc;
use crate::access::{Identity, Need};

/// The sections in the navigation: (path, title, who may open it).
const NAV: &[(&str, &str, Need)] = &[
    ("/", "Dashboard", Need::Read),
    ("/hosts", "Hosts", Need::Read),
    ("/images", "Images", Need::Read),
    ("/tasks", "Tasks", Need::Read),
    ("/sessions", "Sessions", Need::Read),
    ("/schedules", "Schedules", Need::Read),
    ("/drivers", "Drivers", Need::Read),
    ("/sites", "Sites", Need::Read),
    ("/audit", "Audit", Need::Admin),
    ("/users", "Users", Need::Admin),
];

/// Who the page is for: what it may show and the CSRF token its forms carry.
pub struct Viewer<'a> {
    pub who: &'a Identity,
}

impl Viewer<'_> {
    /// Whether action controls for `need` are shown. The server checks
    /// again on every post: hiding them is for the eye only.
    pub fn may(&self, need: Need) -> bool {
        self.who.role.allows(need)
    }

    /// The hidden CSRF field every form posts.
    pub fn csrf(&self) -> String {
        match &self.who.csrf {
            Some(t) => format!("<input type=\"hidden\" name=\"csrf\" value=\"{}\">", esc(t)),
            None => String::new(),
        }
    }
}

/// A whole page: `section` is the navigation path it belongs to.
pub fn page(title: &str, section: &str, viewer: Option<&Viewer<'_>>, body: &str) -> Html<String> {
    let nav: String = match viewer {
        Some(v) => NAV
            .iter()
            .filter(|(_, _, need)| v.may(*need))
            .map(|(path, name, _)| {
                let current = if *path == section {
                    " aria-current=\"page\""
                } else {
                    ""
                };
                format!("<a href=\"{path}\"{current}>{name}</a>")
            })
            .collect(),
        None => String::new(),
    };
    let user = match viewer {
        Some(v) => format!(
            "<form class=\"who\" method=\"post\" action=\"/logout\">{}<span>{} · {}</span>\
             <button class=\"link\">Sign out</button></form>",
            v.csrf(),
            esc(&v.who.actor.to_string()),
            esc(v.who.role.as_str())
        ),
        None => String::new(),
    };
    Html(format!(
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\">\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
         <title>{t} · Marrow</title><link rel=\"stylesheet\" href=\"/ui/app.css\">\
         <script src=\"/ui/app.js\" defer></script></head><body>\
         <header><a class=\"brand\" href=\"/\">Marrow</a><nav>{nav}</nav>{user}</header>\
         <main><h1>{t}</h1>{body}</main></body></html>",
        t = esc(title)
    ))
}
