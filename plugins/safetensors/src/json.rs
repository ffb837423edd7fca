//! A JSON object read in file order that rejects repeated keys.
//!
//! `serde_json::Map` keeps the last of two equal keys silently (and, without `preserve_order`,
//! forgets the order); a repeated tensor name is exactly what a malformed header may hide.

use std::collections::HashSet;
use std::fmt;
use std::marker::PhantomData;

use serde::de::{Deserialize, Deserializer, Error as _, MapAccess, Visitor};

/// The entries of a JSON object in file order; deserialising fails on a repeated key.
#[derive(Debug, Clone, PartialEq)]
pub struct OrderedMap<V>(pub Vec<(String, V)>);

impl<'de, V: Deserialize<'de>> Deserialize<'de> for OrderedMap<V> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_map(OrderedVisitor(PhantomData))
    }
}

struct OrderedVisitor<V>(PhantomData<V>);

impl<'de, V: Deserialize<'de>> Visitor<'de> for OrderedVisitor<V> {
    type Value = OrderedMap<V>;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a JSON object")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        let mut seen = HashSet::new();
        let mut out = Vec::new();
        while let Some(key) = map.next_key::<String>()? {
            if !seen.insert(key.clone()) {
                return Err(A::Error::custom(format!("duplicate key {key:?}")));
            }
            let value = map.next_value()?;
            out.push((key, value));
        }
        Ok(OrderedMap(out))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_order_and_rejects_duplicates() {
        let m: OrderedMap<String> = serde_json::from_str(r#"{"b":"1","a":"2"}"#).unwrap();
        assert_eq!(
            m.0,
            vec![("b".into(), "1".into()), ("a".into(), "2".into())]
        );
        let e = serde_json::from_str::<OrderedMap<String>>(r#"{"a":"1","a":"2"}"#).unwrap_err();
        assert!(e.to_string().contains("duplicate key \"a\""), "{e}");
        assert!(serde_json::from_str::<OrderedMap<String>>("[]").is_err());
    }
}
