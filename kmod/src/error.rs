//! The one error type of this crate: which metadata file, which line, and
//! what is wrong with it.

/// Why a metadata file did not parse. `line` counts from 1.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ModulesError {
    #[error("modules.dep line {line}: {text:?} has no `path:` before its dependencies")]
    DepNoColon { line: usize, text: String },
    #[error("modules.dep line {line}: path {path:?} is not a .ko module file")]
    DepNotModule { line: usize, path: String },
    #[error("module {name} is neither in modules.dep nor built into the kernel")]
    Unknown { name: String },
    #[error("modules.dep: {name} depends on {dep}, which has no modules.dep line")]
    MissingDep { name: String, dep: String },
    /// A `modules.alias` line that is not `alias <pattern> <module>`.
    #[error("modules.alias line {line}: {reason}: {text:?}")]
    Alias {
        line: usize,
        reason: &'static str,
        text: String,
    },
}
