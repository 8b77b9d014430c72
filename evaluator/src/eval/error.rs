//! Evaluation errors.

use super::value::Pos;

/// What kind of error; `tryEval` catches [`ErrorKind::Throw`] and [`ErrorKind::Assert`] only.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ErrorKind {
    Throw,
    Assert,
    Abort,
    Eval,
    InfiniteRecursion,
    StackOverflow,
    /// A parse or lowering error.
    Syntax,
}

/// One `… while …` frame shown under `--show-trace`.
#[derive(Clone, Debug)]
pub struct TraceFrame {
    pub pos: Pos,
    pub msg: String,
}

/// An evaluation error with its position and trace frames (innermost first).
#[derive(Clone, Debug)]
pub struct EvalError {
    pub kind: ErrorKind,
    pub msg: String,
    pub pos: Pos,
    pub trace: Vec<TraceFrame>,
    /// Extra text printed after the position (e.g. "Did you mean ...").
    pub hint: Option<String>,
}

pub type Error = Box<EvalError>;
pub type Result<T> = std::result::Result<T, Error>;

impl EvalError {
    pub fn new(kind: ErrorKind, msg: impl Into<String>) -> Error {
        Box::new(EvalError {
            kind,
            msg: msg.into(),
            pos: Pos::NONE,
            trace: Vec::new(),
            hint: None,
        })
    }
    pub fn at(mut self: Box<Self>, pos: Pos) -> Error {
        if self.pos.is_none() {
            self.pos = pos;
        }
        self
    }
    pub fn catchable(&self) -> bool {
        matches!(self.kind, ErrorKind::Throw | ErrorKind::Assert)
    }
}

impl std::fmt::Display for EvalError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}", self.msg)
    }
}

impl std::error::Error for EvalError {}

/// Shorthand for an ordinary evaluation error.
pub fn err<T>(msg: impl Into<String>) -> Result<T> {
    Err(EvalError::new(ErrorKind::Eval, msg))
}

pub fn mkerr(msg: impl Into<String>) -> Error {
    EvalError::new(ErrorKind::Eval, msg)
}
