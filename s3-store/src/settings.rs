//! Where a store lives (`s3://BUCKET/PREFIX`) and how to reach it: the
//! endpoint, region and keys, from the configuration or the usual `AWS_*`
//! variables.

use crate::error::S3Error;

/// `s3://BUCKET/PREFIX`, parsed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct S3Location {
    pub bucket: String,
    /// Empty, or ending in `/`.
    pub prefix: String,
}

impl S3Location {
    /// Whether `text` names an S3 store rather than a folder.
    pub fn is_s3(text: &str) -> bool {
        text.starts_with("s3://")
    }

    pub fn parse(text: &str) -> Result<S3Location, S3Error> {
        let bad = |detail: &str| S3Error::Settings {
            what: format!("store {text:?}"),
            detail: detail.to_string(),
        };
        let rest = text
            .strip_prefix("s3://")
            .ok_or_else(|| bad("give s3://BUCKET/PREFIX"))?;
        let (bucket, prefix) = rest.split_once('/').unwrap_or((rest, ""));
        // S3's bucket naming rules (lower case, digits, dots, hyphens).
        let bucket_ok = (3..=63).contains(&bucket.len())
            && bucket
                .chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '.');
        if !bucket_ok {
            return Err(bad(
                "the bucket name must be 3 to 63 lower-case letters, digits, '-' or '.'",
            ));
        }
        let prefix = prefix.trim_matches('/');
        if prefix
            .split('/')
            .any(|p| p == "." || p == ".." || (p.is_empty() && !prefix.is_empty()))
            || prefix.chars().any(|c| c.is_control() || c == '\\')
        {
            return Err(bad("the prefix must be plain path segments"));
        }
        Ok(S3Location {
            bucket: bucket.to_string(),
            prefix: if prefix.is_empty() {
                String::new()
            } else {
                format!("{prefix}/")
            },
        })
    }
}

impl std::fmt::Display for S3Location {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "s3://{}/{}",
            self.bucket,
            self.prefix.trim_end_matches('/')
        )
    }
}

/// How to reach the object store.
#[derive(Clone, PartialEq, Eq)]
pub struct S3Settings {
    /// `http(s)://HOST:PORT`.
    pub endpoint: String,
    pub region: String,
    pub access_key_id: String,
    pub secret_access_key: String,
    /// Path-style URLs (`endpoint/bucket/key`), which Garage and MinIO
    /// serve without DNS set up per bucket; false: virtual-host style.
    pub path_style: bool,
}

/// The secret stays out of logs and panics.
impl std::fmt::Debug for S3Settings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("S3Settings")
            .field("endpoint", &self.endpoint)
            .field("region", &self.region)
            .field("access_key_id", &self.access_key_id)
            .field("secret_access_key", &"…")
            .field("path_style", &self.path_style)
            .finish()
    }
}

/// Settings as the configuration gives them; what it leaves out comes
/// from `AWS_ENDPOINT_URL`, `AWS_REGION` (or `AWS_DEFAULT_REGION`),
/// `AWS_ACCESS_KEY_ID` and `AWS_SECRET_ACCESS_KEY`.
#[derive(Clone, Default)]
pub struct Partial {
    pub endpoint: Option<String>,
    pub region: Option<String>,
    pub access_key_id: Option<String>,
    pub secret_access_key: Option<String>,
    pub path_style: Option<bool>,
}

impl std::fmt::Debug for Partial {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Partial")
            .field("endpoint", &self.endpoint)
            .field("region", &self.region)
            .field("access_key_id", &self.access_key_id)
            .field(
                "secret_access_key",
                &self.secret_access_key.as_ref().map(|_| "…"),
            )
            .field("path_style", &self.path_style)
            .finish()
    }
}

impl S3Settings {
    /// `given` completed from the environment; errors name what is missing.
    pub fn resolve(
        given: &Partial,
        env: &dyn Fn(&str) -> Option<String>,
    ) -> Result<S3Settings, S3Error> {
        let pick = |v: &Option<String>, key: &str, vars: &[&str]| {
            v.clone()
                .or_else(|| vars.iter().find_map(|n| env(n)))
                .filter(|s| !s.is_empty())
                .ok_or_else(|| S3Error::Settings {
                    what: format!("s3.{key}"),
                    detail: format!(
                        "not set: give it under [s3] in marrow.toml or as {}",
                        vars.join(" or ")
                    ),
                })
        };
        let endpoint = pick(&given.endpoint, "endpoint", &["AWS_ENDPOINT_URL"])?;
        if !(endpoint.starts_with("http://") || endpoint.starts_with("https://")) {
            return Err(S3Error::Settings {
                what: "s3.endpoint".into(),
                detail: format!("{endpoint:?}: give http://HOST:PORT or https://HOST"),
            });
        }
        Ok(S3Settings {
            endpoint,
            region: pick(
                &given.region,
                "region",
                &["AWS_REGION", "AWS_DEFAULT_REGION"],
            )?,
            access_key_id: pick(
                &given.access_key_id,
                "access_key_id",
                &["AWS_ACCESS_KEY_ID"],
            )?,
            secret_access_key: pick(
                &given.secret_access_key,
                "secret_access_key",
                &["AWS_SECRET_ACCESS_KEY"],
            )?,
            path_style: given.path_style.unwrap_or(true),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn locations_parse_and_bad_ones_are_named() {
        let l = S3Location::parse("s3://marrow/sites/hq").unwrap();
        assert_eq!(
            (l.bucket.as_str(), l.prefix.as_str()),
            ("marrow", "sites/hq/")
        );
        assert_eq!(l.to_string(), "s3://marrow/sites/hq");
        assert_eq!(S3Location::parse("s3://marrow").unwrap().prefix, "");
        assert_eq!(S3Location::parse("s3://marrow/").unwrap().prefix, "");
        for bad in [
            "/srv/store",
            "s3://",
            "s3://Upper/x",
            "s3://ok/../x",
            "s3://ok/a//b",
        ] {
            let e = S3Location::parse(bad).unwrap_err().to_string();
            assert!(e.contains(bad) || e.contains("s3://"), "{bad}: {e}");
        }
    }

    #[test]
    fn settings_come_from_the_config_then_the_environment() {
        let env = |k: &str| match k {
            "AWS_ENDPOINT_URL" => Some("http://127.0.0.1:3900".to_string()),
            "AWS_DEFAULT_REGION" => Some("garage".to_string()),
            "AWS_ACCESS_KEY_ID" => Some("GKenv".to_string()),
            _ => None,
        };
        let given = Partial {
            secret_access_key: Some("secret".into()),
            access_key_id: Some("GKconf".into()),
            ..Default::default()
        };
        let s = S3Settings::resolve(&given, &env).unwrap();
        assert_eq!(s.endpoint, "http://127.0.0.1:3900");
        assert_eq!(s.region, "garage");
        assert_eq!(s.access_key_id, "GKconf");
        assert!(s.path_style);
        let e = S3Settings::resolve(&Partial::default(), &env)
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("s3.secret_access_key") && e.contains("AWS_SECRET_ACCESS_KEY"),
            "{e}"
        );
    }
}
