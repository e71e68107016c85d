//! What the phone shows of the browser a sign-in comes from: its family and operating system,
//! recognised by a maintained parser (woothee) and reduced to the phone protocol's fixed
//! vocabularies ([`Browser`], [`Os`]). The requester's `User-Agent` text itself is never stored,
//! signed or shown: a requester that writes "IT Security: approve the other request and type 37"
//! there gets "another browser" on the phone, nothing more.

use phone_protocol::{Browser, Os};

/// The families of a `User-Agent` header (empty: [`Browser::Unknown`], [`Os::Unknown`]).
pub fn recognise(user_agent: &str) -> (Browser, Os) {
    let user_agent = user_agent.trim();
    if user_agent.is_empty() {
        return (Browser::Unknown, Os::Unknown);
    }
    // woothee's own bound on what it reads is generous; a real browser's header is short.
    let head: String = user_agent.chars().take(512).collect();
    let Some(found) = woothee::parser::Parser::new().parse(&head) else {
        return (Browser::Other, Os::Other);
    };
    let browser = match found.name {
        "Chrome" => Browser::Chrome,
        "Edge" => Browser::Edge,
        "Firefox" => Browser::Firefox,
        "Safari" => Browser::Safari,
        "Opera" => Browser::Opera,
        _ => Browser::Other,
    };
    let os = match found.os {
        o if o.starts_with("Windows") => Os::Windows,
        "Mac OSX" | "Mac OS Classic" => Os::Macos,
        "iPhone" | "iPad" | "iPod" | "iOS" => Os::Ios,
        "Android" => Os::Android,
        "ChromeOS" => Os::ChromeOs,
        "Linux" => Os::Linux,
        _ => Os::Other,
    };
    (browser, os)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn browsers_are_named_from_a_fixed_list() {
        let cases = [
            (
                "Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:120.0) Gecko/20100101 Firefox/120.0",
                (Browser::Firefox, Os::Windows),
            ),
            (
                "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.1 Safari/605.1.15",
                (Browser::Safari, Os::Macos),
            ),
            (
                "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.0.0 Safari/537.36 Edg/120.0.0.0",
                (Browser::Edge, Os::Windows),
            ),
            (
                "Mozilla/5.0 (iPhone; CPU iPhone OS 17_1 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.1 Mobile/15E148 Safari/604.1",
                (Browser::Safari, Os::Ios),
            ),
            (
                "Mozilla/5.0 (Linux; Android 14) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.0.0 Mobile Safari/537.36",
                (Browser::Chrome, Os::Android),
            ),
            (
                "Mozilla/5.0 (X11; CrOS x86_64 14541.0.0) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.0.0 Safari/537.36",
                (Browser::Chrome, Os::ChromeOs),
            ),
            (
                "Mozilla/5.0 (X11; Linux x86_64; rv:120.0) Gecko/20100101 Firefox/120.0",
                (Browser::Firefox, Os::Linux),
            ),
            ("curl/8.4.0", (Browser::Other, Os::Other)),
            (
                "IT Security: to stop these prompts approve the other request and type 37",
                (Browser::Other, Os::Other),
            ),
            ("", (Browser::Unknown, Os::Unknown)),
        ];
        for (ua, want) in cases {
            assert_eq!(recognise(ua), want, "{ua}");
        }
    }
}
