//! Query and path parameters of the REST API, parsed with errors that name the parameter.

/// Parses an optional integer query parameter, naming it when it is not one.
pub(crate) fn int_param(
    name: &str,
    value: Option<&String>,
    default: i64,
    min: i64,
    max: i64,
) -> crate::Result<i64> {
    let Some(v) = value.filter(|v| !v.is_empty()) else {
        return Ok(default);
    };
    let n: i64 = v
        .parse()
        .map_err(|_| crate::Error::validation(name, "must be a whole number"))?;
    if n < min || n > max {
        return Err(crate::Error::validation(
            name,
            format!("must be between {min} and {max}"),
        ));
    }
    Ok(n)
}

pub(crate) fn uuid_param(value: &str) -> crate::Result<uuid::Uuid> {
    uuid::Uuid::parse_str(value).map_err(|_| crate::Error::validation("id", "must be a UUID"))
}
