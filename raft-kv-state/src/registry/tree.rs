//! The tables' values as reply trees ([`Tree`]), and what can be wrong in
//! a table ([`TableError`]).

use crate::reply::Reply;
use serde_json::Value;

/// What is wrong in a command table (found by the registry's tests, and
/// at start-up before any command is served).
#[derive(Debug, thiserror::Error)]
pub(crate) enum TableError {
    /// A field is missing from a command's line.
    #[error("no '{0}' field")]
    MissingField(&'static str),
    /// A field holds the wrong kind of value.
    #[error("'{field}' is not {wanted}")]
    Malformed {
        /// The field.
        field: &'static str,
        /// What it should be.
        wanted: &'static str,
    },
    /// A value that no reply tree stands for.
    #[error("a value that is no reply tree: {0}")]
    NotATree(String),
    /// A flag this store does not know.
    #[error("unknown flag {0}")]
    UnknownFlag(String),
    /// A key spec lacks a part.
    #[error("key spec without {0}")]
    KeySpec(&'static str),
    /// An error in one command's line.
    #[error("{command}: {source}")]
    In {
        /// The command.
        command: String,
        /// What is wrong.
        source: Box<TableError>,
    },
}

pub(super) fn malformed(field: &'static str, wanted: &'static str) -> TableError {
    TableError::Malformed { field, wanted }
}

/// A reply tree as the tables hold it: a JSON string is a bulk string,
/// `{"s": x}` a simple string, `{"set": [...]}` a set, `{"map": [[k, v],
/// ...]}` a map.
#[derive(Clone, Debug, PartialEq)]
pub(crate) enum Tree {
    Bulk(String),
    Simple(String),
    Int(i64),
    Array(Vec<Tree>),
    Set(Vec<Tree>),
    Map(Vec<(Tree, Tree)>),
}

impl Tree {
    pub(super) fn of(v: &Value) -> Result<Tree, TableError> {
        Ok(match v {
            Value::String(s) => Tree::Bulk(s.clone()),
            Value::Number(n) => Tree::Int(n.as_i64().ok_or(malformed("a number", "an i64"))?),
            Value::Array(items) => {
                Tree::Array(items.iter().map(Tree::of).collect::<Result<_, _>>()?)
            }
            Value::Object(o) => match (o.get("s"), o.get("set"), o.get("map")) {
                (Some(Value::String(s)), None, None) => Tree::Simple(s.clone()),
                (None, Some(Value::Array(items)), None) => {
                    Tree::Set(items.iter().map(Tree::of).collect::<Result<_, _>>()?)
                }
                (None, None, Some(Value::Array(pairs))) => Tree::Map(
                    pairs
                        .iter()
                        .map(|p| match p.as_array().map(Vec::as_slice) {
                            Some([k, v]) => Ok((Tree::of(k)?, Tree::of(v)?)),
                            _ => Err(malformed("a map entry", "a pair")),
                        })
                        .collect::<Result<_, _>>()?,
                ),
                _ => return Err(TableError::NotATree(v.to_string())),
            },
            other => return Err(TableError::NotATree(other.to_string())),
        })
    }

    /// The reply this tree stands for.
    pub(crate) fn to_reply(&self) -> Reply {
        match self {
            Tree::Bulk(s) => Reply::Bulk(Some(s.as_bytes().to_vec())),
            Tree::Simple(s) => Reply::Simple(s.clone()),
            Tree::Int(n) => Reply::Int(*n),
            Tree::Array(items) => Reply::Array(items.iter().map(Tree::to_reply).collect()),
            Tree::Set(items) => Reply::Set(items.iter().map(Tree::to_reply).collect()),
            Tree::Map(pairs) => Reply::Map(
                pairs
                    .iter()
                    .map(|(k, v)| (k.to_reply(), v.to_reply()))
                    .collect(),
            ),
        }
    }

    /// The value at `key` of a map.
    pub(crate) fn get(&self, key: &str) -> Option<&Tree> {
        match self {
            Tree::Map(pairs) => pairs
                .iter()
                .find(|(k, _)| matches!(k, Tree::Bulk(s) if s == key))
                .map(|(_, v)| v),
            _ => None,
        }
    }

    /// The text of a bulk or simple string.
    pub(crate) fn text(&self) -> Option<&str> {
        match self {
            Tree::Bulk(s) | Tree::Simple(s) => Some(s),
            _ => None,
        }
    }

    /// The integer.
    pub(crate) fn int(&self) -> Option<i64> {
        match self {
            Tree::Int(n) => Some(*n),
            _ => None,
        }
    }

    /// The items of an array or a set.
    pub(crate) fn items(&self) -> &[Tree] {
        match self {
            Tree::Array(items) | Tree::Set(items) => items,
            _ => &[],
        }
    }
}
