//! Request parameters for the OAuth endpoints: a query string, or a body that is either
//! `application/x-www-form-urlencoded` or `application/json` (Datadog accepts both).

use std::collections::HashMap;

use axum::http::{HeaderMap, header};

pub(crate) type Params = HashMap<String, String>;

/// Parses a query string; `None` when it is not valid form encoding.
pub(crate) fn from_query(query: Option<&str>) -> Option<Params> {
    serde_urlencoded::from_str::<Vec<(String, String)>>(query.unwrap_or_default())
        .ok()
        .map(first_wins)
}

/// Parses a form or JSON body according to its `Content-Type`.
pub(crate) fn from_body(headers: &HeaderMap, body: &[u8]) -> Result<Params, String> {
    let content_type = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    let media_type = content_type
        .split(';')
        .next()
        .unwrap_or_default()
        .trim()
        .to_ascii_lowercase();
    match media_type.as_str() {
        "application/x-www-form-urlencoded" => {
            serde_urlencoded::from_bytes::<Vec<(String, String)>>(body)
                .map(first_wins)
                .map_err(|_| "The request body is not valid form encoding".to_owned())
        }
        "application/json" => {
            let map: HashMap<String, serde_json::Value> = serde_json::from_slice(body)
                .map_err(|_| "The request body is not a JSON object".to_owned())?;
            Ok(map
                .into_iter()
                .filter_map(|(k, v)| match v {
                    serde_json::Value::String(s) => Some((k, s)),
                    serde_json::Value::Number(n) => Some((k, n.to_string())),
                    _ => None,
                })
                .collect())
        }
        _ => Err(format!(
            "Unsupported Content-Type {content_type:?}: use application/x-www-form-urlencoded or application/json"
        )),
    }
}

fn first_wins(pairs: Vec<(String, String)>) -> Params {
    let mut params = Params::new();
    for (k, v) in pairs {
        params.entry(k).or_insert(v);
    }
    params
}

/// A non-empty parameter.
pub(crate) fn get<'a>(params: &'a Params, name: &str) -> Option<&'a str> {
    params
        .get(name)
        .map(String::as_str)
        .filter(|v| !v.is_empty())
}

/// Appends query parameters to a URL that may already carry a query.
pub(crate) fn with_query(base: &str, pairs: &[(&str, &str)]) -> String {
    let encoded = serde_urlencoded::to_string(pairs).unwrap_or_default();
    let separator = if base.contains('?') { '&' } else { '?' };
    format!("{base}{separator}{encoded}")
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    #[test]
    fn parses_form_and_json_bodies() {
        let mut headers = HeaderMap::new();
        headers.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/x-www-form-urlencoded; charset=utf-8"),
        );
        let form = from_body(&headers, b"grant_type=authorization_code&code=a%2Bb").unwrap();
        assert_eq!(get(&form, "code"), Some("a+b"));
        headers.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        );
        let json = from_body(&headers, br#"{"grant_type":"refresh_token","n":1}"#).unwrap();
        assert_eq!(get(&json, "grant_type"), Some("refresh_token"));
        assert!(from_body(&headers, b"[1,2]").is_err());
        headers.insert(header::CONTENT_TYPE, HeaderValue::from_static("text/plain"));
        assert!(from_body(&headers, b"a=b").is_err());
    }

    #[test]
    fn appends_queries() {
        assert_eq!(
            with_query("http://x/cb", &[("a", "b c")]),
            "http://x/cb?a=b+c"
        );
        assert_eq!(
            with_query("http://x/cb?k=1", &[("a", "&")]),
            "http://x/cb?k=1&a=%26"
        );
    }
}
