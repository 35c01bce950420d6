/// Why a text is not an id. The message quotes the text and says what
/// kind of id was expected.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum IdError {
    #[error("{value:?} is not the id of {kind}: expected 64 hex digits")]
    NotHex { kind: &'static str, value: String },
    #[error("task id {value:?} is not a positive number")]
    NotTaskId { value: String },
}
