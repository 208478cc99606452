//! A JSON log line as a tree that borrows from the line: strings without escapes are
//! slices of the input, objects are small vectors in document order.
//!
//! Why not `serde_json::Value`: the analyser parses every error line of a log, and a
//! `Value` allocates a `String` for every key and string and a B-tree per object, then
//! frees them all again; that was the largest cost of reading an error line. Objects of
//! a log line have a dozen keys, so a linear scan finds a key as fast as a tree does.
//! Parsing itself is still serde_json's (same grammar, same errors, same depth limit).

use serde::de::{Deserialize, Deserializer, MapAccess, SeqAccess, Visitor};
use serde_json::Number;
use std::borrow::Cow;
use std::fmt;

#[derive(Debug, Clone, PartialEq)]
pub enum Json<'a> {
    Null,
    Bool(bool),
    Number(Number),
    String(Cow<'a, str>),
    Array(Vec<Json<'a>>),
    /// Keys in document order, repeated keys included (`get` sees the last one, as
    /// serde_json keeps the last; a walk over the entries sees each).
    Object(Vec<(Cow<'a, str>, Json<'a>)>),
}

impl<'a> Json<'a> {
    /// Parses a whole text; `None` when it is not one JSON value.
    pub fn parse(text: &'a str) -> Option<Json<'a>> {
        serde_json::from_str(text).ok()
    }

    /// The value of `key` in an object (the last one when the key is repeated).
    /// The reader goes through `logline::lookup`, which also follows dotted paths.
    #[cfg(test)]
    pub fn get(&self, key: &str) -> Option<&Json<'a>> {
        self.as_object()?
            .iter()
            .rev()
            .find(|(k, _)| k.as_ref() == key)
            .map(|(_, v)| v)
    }

    pub fn as_object(&self) -> Option<&[(Cow<'a, str>, Json<'a>)]> {
        match self {
            Json::Object(o) => Some(o),
            _ => None,
        }
    }

    pub fn is_object(&self) -> bool {
        matches!(self, Json::Object(_))
    }

    pub fn as_str(&self) -> Option<&str> {
        match self {
            Json::String(s) => Some(s),
            _ => None,
        }
    }

    pub fn as_f64(&self) -> Option<f64> {
        match self {
            Json::Number(n) => n.as_f64(),
            _ => None,
        }
    }
}

/// An object key, borrowed when the input has no escapes in it (serde's own `Cow`
/// impl always copies).
struct Key<'a>(Cow<'a, str>);

impl<'de> Deserialize<'de> for Key<'de> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Key<'de>;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a string key")
            }
            fn visit_borrowed_str<E>(self, s: &'de str) -> Result<Key<'de>, E> {
                Ok(Key(Cow::Borrowed(s)))
            }
            fn visit_str<E>(self, s: &str) -> Result<Key<'de>, E> {
                Ok(Key(Cow::Owned(s.to_owned())))
            }
            fn visit_string<E>(self, s: String) -> Result<Key<'de>, E> {
                Ok(Key(Cow::Owned(s)))
            }
        }
        d.deserialize_str(V)
    }
}

impl<'de> Deserialize<'de> for Json<'de> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(JsonVisitor)
    }
}

struct JsonVisitor;

impl<'de> Visitor<'de> for JsonVisitor {
    type Value = Json<'de>;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("any JSON value")
    }
    fn visit_unit<E>(self) -> Result<Json<'de>, E> {
        Ok(Json::Null)
    }
    fn visit_none<E>(self) -> Result<Json<'de>, E> {
        Ok(Json::Null)
    }
    fn visit_bool<E>(self, b: bool) -> Result<Json<'de>, E> {
        Ok(Json::Bool(b))
    }
    fn visit_u64<E>(self, n: u64) -> Result<Json<'de>, E> {
        Ok(Json::Number(n.into()))
    }
    fn visit_i64<E>(self, n: i64) -> Result<Json<'de>, E> {
        Ok(Json::Number(n.into()))
    }
    fn visit_f64<E>(self, n: f64) -> Result<Json<'de>, E> {
        Ok(Number::from_f64(n).map_or(Json::Null, Json::Number))
    }
    fn visit_borrowed_str<E>(self, s: &'de str) -> Result<Json<'de>, E> {
        Ok(Json::String(Cow::Borrowed(s)))
    }
    fn visit_str<E>(self, s: &str) -> Result<Json<'de>, E> {
        Ok(Json::String(Cow::Owned(s.to_owned())))
    }
    fn visit_string<E>(self, s: String) -> Result<Json<'de>, E> {
        Ok(Json::String(Cow::Owned(s)))
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Json<'de>, A::Error> {
        let mut out = Vec::with_capacity(seq.size_hint().unwrap_or(0));
        while let Some(v) = seq.next_element()? {
            out.push(v);
        }
        Ok(Json::Array(out))
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Json<'de>, A::Error> {
        let mut out: Vec<(Cow<'de, str>, Json<'de>)> = Vec::with_capacity(16);
        while let Some(Key(k)) = map.next_key()? {
            out.push((k, map.next_value()?));
        }
        Ok(Json::Object(out))
    }
}

/// Compact JSON text, as serde_json writes it: the tests compare trees through it.
#[cfg(test)]
impl fmt::Display for Json<'_> {
    fn fmt(&self, f: &mut fmt::Formatter) -> fmt::Result {
        match self {
            Json::Null => f.write_str("null"),
            Json::Bool(b) => write!(f, "{b}"),
            Json::Number(n) => write!(f, "{n}"),
            Json::String(s) => f.write_str(&serde_json::to_string(s).map_err(|_| fmt::Error)?),
            Json::Array(a) => {
                f.write_str("[")?;
                for (i, v) in a.iter().enumerate() {
                    if i > 0 {
                        f.write_str(",")?;
                    }
                    write!(f, "{v}")?;
                }
                f.write_str("]")
            }
            Json::Object(o) => {
                f.write_str("{")?;
                for (i, (k, v)) in o.iter().enumerate() {
                    if i > 0 {
                        f.write_str(",")?;
                    }
                    let k = serde_json::to_string(k).map_err(|_| fmt::Error)?;
                    write!(f, "{k}:{v}")?;
                }
                f.write_str("}")
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn borrows_plain_strings_and_owns_escaped_ones() {
        let text = r#"{"msg":"plain","esc":"a\"b\u00e9","n":-3,"f":1.5,"big":18446744073709551615,"a":[1,null,true],"o":{"k":"v"}}"#;
        let v = Json::parse(text).unwrap();
        assert!(matches!(
            v.get("msg"),
            Some(Json::String(Cow::Borrowed("plain")))
        ));
        assert!(matches!(v.get("esc"), Some(Json::String(Cow::Owned(s))) if s == "a\"bé"));
        assert_eq!(v.get("n").and_then(Json::as_f64), Some(-3.0));
        assert_eq!(v.get("f").and_then(Json::as_f64), Some(1.5));
        assert_eq!(
            v.get("big").map(|b| b.to_string()).as_deref(),
            Some("18446744073709551615")
        );
        assert_eq!(
            v.get("o").and_then(|o| o.get("k")).and_then(Json::as_str),
            Some("v")
        );
        assert_eq!(v.get("missing"), None);
        // Same text back as serde_json writes it, in document order.
        let round: serde_json::Value = serde_json::from_str(&v.to_string()).unwrap();
        assert_eq!(
            round,
            serde_json::from_str::<serde_json::Value>(text).unwrap()
        );
    }

    #[test]
    fn repeated_keys_keep_the_last_value_as_serde_json_does() {
        let v = Json::parse(r#"{"level":30,"msg":"x","level":50}"#).unwrap();
        assert_eq!(v.get("level").and_then(Json::as_f64), Some(50.0));
        assert_eq!(v.as_object().unwrap().len(), 3);
    }

    #[test]
    fn rejects_what_is_not_one_value() {
        for bad in [r#"{"a":1"#, r#"{"a":1} trailing"#, "", "{'a':1}"] {
            assert!(Json::parse(bad).is_none(), "{bad}");
        }
        assert!(Json::parse(&"[".repeat(200)).is_none(), "depth limit");
    }
}
