//! Posted forms: the fields of an `application/x-www-form-urlencoded`
//! body, and the errors a form shows next to its fields.

use std::collections::BTreeMap;

use axum::body::Body;
use axum::extract::{FromRequest, Request};

use super::html::esc;
use crate::serve::api_error::{ApiError, ApiResult};
use crate::serve::body;

/// The fields of a posted form (a repeated name keeps its last value).
#[derive(Debug, Default, Clone)]
pub(crate) struct Fields(pub BTreeMap<String, String>);

impl Fields {
    /// A field's value, trimmed; `None` when missing or empty.
    pub fn get(&self, name: &str) -> Option<String> {
        self.0
            .get(name)
            .map(|v| v.trim().to_string())
            .filter(|v| !v.is_empty())
    }

    /// A checkbox: present means ticked.
    pub fn checked(&self, name: &str) -> bool {
        self.0.contains_key(name)
    }
}

impl<S: Send + Sync> FromRequest<S> for Fields {
    type Rejection = ApiError;

    async fn from_request(req: Request<Body>, _: &S) -> ApiResult<Self> {
        let (parts, stream) = req.into_parts();
        let bytes = body::read(&parts.headers, stream, body::JSON_LIMIT).await?;
        let pairs: Vec<(String, String)> = serde_urlencoded::from_bytes(&bytes)
            .map_err(|e| ApiError::BadRequest(format!("form: {e}")))?;
        Ok(Fields(pairs.into_iter().collect()))
    }
}

/// What is wrong with a form, by field (`""` for the form as a whole).
#[derive(Debug, Default)]
pub struct Problems(pub BTreeMap<&'static str, String>);

impl Problems {
    pub fn add(&mut self, field: &'static str, why: impl Into<String>) {
        self.0.entry(field).or_insert_with(|| why.into());
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// The error shown under `field`, or nothing.
    pub fn under(&self, field: &str) -> String {
        match self.0.get(field) {
            Some(why) => format!(
                "<span class=\"field-error\" id=\"{field}-error\" data-error-for=\"{field}\">{}</span>",
                esc(why)
            ),
            None => String::new(),
        }
    }

    /// `aria-invalid` for a field's input.
    pub fn invalid(&self, field: &str) -> &'static str {
        match self.0.contains_key(field) {
            true => " aria-invalid=\"true\"",
            false => "",
        }
    }

    /// The form-wide error, above the fields.
    pub fn top(&self) -> String {
        match self.0.get("") {
            Some(why) => format!(
                "<p class=\"problem\" data-error-for=\"form\">{}</p>",
                esc(why)
            ),
            None => String::new(),
        }
    }
}

/// A text input with its label, hint, value and error.
pub fn text_input(
    name: &'static str,
    label: &str,
    hint: &str,
    value: Option<&str>,
    problems: &Problems,
) -> String {
    format!(
        "<label>{label} <span class=\"hint\">{hint}</span>\
         <input name=\"{name}\" value=\"{}\"{} aria-describedby=\"{name}-error\">{}</label>",
        esc(value.unwrap_or("")),
        problems.invalid(name),
        problems.under(name)
    )
}
