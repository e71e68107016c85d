//! Reading the server's pages as a test does: hidden form fields and escaped text.

/// The value of the form field `name` in a page (hidden inputs: CSRF tokens, request ids);
/// panics with the page when there is none.
pub fn form_field(html: &str, name: &str) -> String {
    let marker = format!("name=\"{name}\" value=\"");
    let start = html
        .find(&marker)
        .unwrap_or_else(|| panic!("no {name} in {html}"))
        + marker.len();
    unescape(html[start..].split('"').next().unwrap_or(""))
}

/// The page's CSRF token (the hidden `csrf_token` field of its forms).
pub fn csrf(html: &str) -> String {
    form_field(html, "csrf_token")
}

/// Undoes askama's HTML escaping (numeric entities) and `&amp;`.
pub fn unescape(s: &str) -> String {
    let mut out = String::new();
    let mut rest = s;
    while let Some(i) = rest.find("&#") {
        out.push_str(&rest[..i]);
        let after = &rest[i + 2..];
        match after
            .find(';')
            .and_then(|j| after[..j].parse::<u32>().ok().map(|n| (j, n)))
        {
            Some((j, n)) => {
                out.push(char::from_u32(n).unwrap_or('?'));
                rest = &after[j + 1..];
            }
            None => {
                out.push_str("&#");
                rest = after;
            }
        }
    }
    out.push_str(rest);
    out.replace("&amp;", "&")
}

/// The phone's registration link in a page (the `href` of "this link" next to the QR code).
pub fn registration_link(page: &str) -> String {
    let start = page
        .find("hideez-auth://register")
        .unwrap_or_else(|| panic!("no registration link in {page}"));
    let rest = &page[start..];
    unescape(&rest[..rest.find('"').expect("end of href")])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_escaped_fields() {
        let page = r#"<input name="csrf_token" value="a&#43;b&amp;c"><a href="hideez-auth://register?x=1&amp;y=&#47;">"#;
        assert_eq!(csrf(page), "a+b&c");
        assert_eq!(registration_link(page), "hideez-auth://register?x=1&y=/");
        assert_eq!(unescape("&#xZ; &#39;"), "&#xZ; '");
    }
}
