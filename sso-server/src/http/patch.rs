//! `PATCH` for the admin resources: the resource as the API shows it, restricted to the fields of
//! its input, with the fields sent laid over it, read as the input a `PUT` takes. Only the fields
//! sent change; a field sent as `null` is cleared (where the input allows it); secrets are not in
//! the view, so they are kept unless sent.

use serde::de::DeserializeOwned;
use serde::Serialize;
use serde_json::{Map, Value};

use crate::error::{Error, Result};

/// The fields of `view` named in `fields` (the ones with a value), as a JSON object.
pub fn current<V: Serialize>(view: &V, fields: &[&str]) -> Result<Map<String, Value>> {
    let mut map = match serde_json::to_value(view).map_err(|e| Error::Internal(e.to_string()))? {
        Value::Object(m) => m,
        _ => Map::new(),
    };
    map.retain(|k, v| fields.contains(&k.as_str()) && !v.is_null());
    Ok(map)
}

/// Lays `changes` over `current` and reads the result as the resource's input. A field that is
/// not one of `fields` is refused by name, before anything is read.
pub fn overlay<I: DeserializeOwned>(
    mut current: Map<String, Value>,
    fields: &[&str],
    changes: Map<String, Value>,
) -> Result<I> {
    if let Some(unknown) = changes.keys().find(|k| !fields.contains(&k.as_str())) {
        return Err(Error::validation(
            unknown.clone(),
            "not a field of this resource",
        ));
    }
    current.extend(changes);
    serde_path_to_error::deserialize(Value::Object(current))
        .map_err(|e| Error::validation(e.path().to_string(), e.inner().to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde::Deserialize;
    use serde_json::json;

    #[derive(Deserialize, Debug, PartialEq)]
    struct Input {
        name: String,
        note: Option<String>,
        size: u32,
    }

    fn obj(v: Value) -> Map<String, Value> {
        v.as_object().cloned().unwrap_or_default()
    }

    #[test]
    fn only_the_fields_sent_change() {
        let fields = ["name", "note", "size"];
        let now = current(
            &json!({"name": "a", "note": "n", "size": 3, "id": "x"}),
            &fields,
        )
        .expect("current");
        assert!(
            !now.contains_key("id"),
            "the view's own fields are left out"
        );
        let i: Input = overlay(now.clone(), &fields, obj(json!({"size": 4}))).expect("ok");
        assert_eq!(
            i,
            Input {
                name: "a".into(),
                note: Some("n".into()),
                size: 4
            }
        );
        let i: Input = overlay(now.clone(), &fields, obj(json!({"note": null}))).expect("ok");
        assert_eq!(i.note, None, "null clears");
        let e = overlay::<Input>(now.clone(), &fields, obj(json!({"nmae": "b"}))).unwrap_err();
        assert!(format!("{e:?}").contains("nmae"), "{e:?}");
        let e = overlay::<Input>(now, &fields, obj(json!({"size": "big"}))).unwrap_err();
        assert!(format!("{e:?}").contains("size"), "{e:?}");
    }
}
