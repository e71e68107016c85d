//! The employee's language. Every employee-facing page and e-mail reads its text from one Fluent
//! catalogue per language (`locales/<lang>/main.ftl`, compiled in). A request's language is, in
//! order: the page's language switch (`?lang=de`, remembered in a cookie), that cookie, the
//! browser's `Accept-Language`, then `default_language` from the configuration (which e-mails
//! use too, as they have no request). The request's language lives in a task-local for the
//! request, so page code asks [`current`] instead of threading it through every handler.

use std::borrow::Cow;
use std::collections::HashMap;

use fluent_templates::fluent_bundle::FluentValue;
use fluent_templates::{static_loader, LanguageIdentifier, Loader};
use serde::{Deserialize, Serialize};

static_loader! {
    static LOCALES = {
        locales: "./locales",
        fallback_language: "en",
        // No Unicode isolation marks around arguments: the text goes into HTML and e-mails,
        // where names are already escaped and the marks only get in the way.
        customise: |bundle| bundle.set_use_isolating(false),
    };
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Lang {
    #[default]
    En,
    De,
}

impl Lang {
    pub const ALL: [Lang; 2] = [Lang::En, Lang::De];

    /// Every language, for the switch.
    pub fn all(self) -> [Lang; 2] {
        Self::ALL
    }

    pub fn code(self) -> &'static str {
        match self {
            Self::En => "en",
            Self::De => "de",
        }
    }

    /// The language's own name, for the switch.
    pub fn name(self) -> &'static str {
        match self {
            Self::En => "English",
            Self::De => "Deutsch",
        }
    }

    /// `de`, `de-AT`, `EN-gb`…: the primary subtag decides.
    pub fn parse(tag: &str) -> Option<Self> {
        let primary = tag.trim().split(['-', '_']).next()?.to_ascii_lowercase();
        Self::ALL.into_iter().find(|l| l.code() == primary)
    }

    /// The best supported language of an `Accept-Language` header, by its weights.
    pub fn from_accept_language(header: &str) -> Option<Self> {
        let mut offered: Vec<(f32, usize, Lang)> = header
            .split(',')
            .enumerate()
            .filter_map(|(i, part)| {
                let mut bits = part.split(';');
                let lang = Self::parse(bits.next()?)?;
                let q = bits
                    .find_map(|b| b.trim().strip_prefix("q="))
                    .map_or(Some(1.0), |q| q.trim().parse::<f32>().ok())?;
                (q > 0.0).then_some((q, i, lang))
            })
            .collect();
        offered.sort_by(|a, b| b.0.total_cmp(&a.0).then(a.1.cmp(&b.1)));
        offered.first().map(|o| o.2)
    }

    fn id(self) -> LanguageIdentifier {
        match self {
            Self::En => fluent_templates::langid!("en"),
            Self::De => fluent_templates::langid!("de"),
        }
    }

    /// The text of `key` (the key itself if the catalogue lacks it; a test keeps them complete).
    pub fn t(self, key: &str) -> String {
        LOCALES.lookup(&self.id(), key)
    }

    /// The text of `key` with one argument.
    pub fn t1(self, key: &str, name: &'static str, value: &str) -> String {
        self.t_args(key, &[(name, value)])
    }

    /// The text of `key` with two arguments.
    /// (Tuples by reference: that is how templates pass them.)
    pub fn t2(self, key: &str, a: &(&'static str, &str), b: &(&'static str, &str)) -> String {
        self.t_args(key, &[*a, *b])
    }

    /// The text of `key` with three arguments.
    pub fn t3(
        self,
        key: &str,
        a: &(&'static str, &str),
        b: &(&'static str, &str),
        c: &(&'static str, &str),
    ) -> String {
        self.t_args(key, &[*a, *b, *c])
    }

    /// The text of `key` with a number (for plural forms).
    pub fn tn(self, key: &str, name: &'static str, n: i64) -> String {
        let args: HashMap<Cow<'static, str>, FluentValue> =
            [(Cow::Borrowed(name), FluentValue::from(n))]
                .into_iter()
                .collect();
        LOCALES.lookup_with_args(&self.id(), key, &args)
    }

    pub fn t_args(self, key: &str, args: &[(&'static str, &str)]) -> String {
        let args: HashMap<Cow<'static, str>, FluentValue> = args
            .iter()
            .map(|(k, v)| (Cow::Borrowed(*k), FluentValue::from(v.to_string())))
            .collect();
        LOCALES.lookup_with_args(&self.id(), key, &args)
    }
}

tokio::task_local! {
    static CURRENT: Lang;
}

/// The language of the request being answered (the default outside a request).
pub fn current() -> Lang {
    CURRENT.try_with(|l| *l).unwrap_or_default()
}

/// Runs `f` with `lang` as the current language (e-mails, tests).
pub async fn with<F: std::future::Future>(lang: Lang, f: F) -> F::Output {
    CURRENT.scope(lang, f).await
}

pub(crate) fn cookie_name(secure: bool) -> &'static str {
    if secure {
        "__Host-sso_lang"
    } else {
        "sso_lang"
    }
}

/// The `?lang=` of a query string, if it names a supported language.
pub(crate) fn switch(query: Option<&str>) -> Option<Lang> {
    url::form_urlencoded::parse(query?.as_bytes())
        .find(|(k, _)| k == "lang")
        .and_then(|(_, v)| Lang::parse(&v))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeSet;

    fn keys(ftl: &str) -> BTreeSet<String> {
        ftl.lines()
            .filter(|l| l.starts_with(|c: char| c.is_ascii_lowercase()))
            .filter_map(|l| l.split_once(" =").map(|(k, _)| k.trim().to_owned()))
            .collect()
    }

    fn catalogue(lang: Lang) -> String {
        let path = format!(
            "{}/locales/{}/main.ftl",
            env!("CARGO_MANIFEST_DIR"),
            lang.code()
        );
        std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"))
    }

    /// Every language has every key, and no key the others lack.
    #[test]
    fn every_language_has_every_key() {
        let en = keys(&catalogue(Lang::En));
        assert!(en.len() > 50, "{} keys", en.len());
        for lang in Lang::ALL {
            let these = keys(&catalogue(lang));
            let missing: Vec<_> = en.difference(&these).collect();
            let extra: Vec<_> = these.difference(&en).collect();
            assert!(
                missing.is_empty() && extra.is_empty(),
                "{}: missing {missing:?}, not in English {extra:?}",
                lang.code()
            );
        }
    }

    /// Every key the templates and the code ask for exists (a typo would show the key).
    #[test]
    fn every_key_used_exists() {
        let en = keys(&catalogue(Lang::En));
        let root = env!("CARGO_MANIFEST_DIR");
        let mut files = Vec::new();
        for dir in [
            "templates",
            "src",
            "src/login",
            "src/enrol",
            "src/push",
            "src/oidc",
            "src/keys",
        ] {
            for e in std::fs::read_dir(format!("{root}/{dir}"))
                .expect("dir")
                .flatten()
            {
                if e.path().is_file() {
                    files.push(e.path());
                }
            }
        }
        let mut used = BTreeSet::new();
        for f in files {
            let text = std::fs::read_to_string(&f).unwrap_or_default();
            for call in [
                ".t(\"",
                ".t1(\"",
                ".t2(\"",
                ".t3(\"",
                ".tn(\"",
                ".t_args(\"",
            ] {
                for (i, _) in text.match_indices(call) {
                    let rest = &text[i + call.len()..];
                    if let Some(end) = rest.find('"') {
                        used.insert((f.display().to_string(), rest[..end].to_owned()));
                    }
                }
            }
        }
        assert!(used.len() > 50, "found {} uses", used.len());
        let unknown: Vec<_> = used.iter().filter(|(_, k)| !en.contains(k)).collect();
        assert!(unknown.is_empty(), "keys not in the catalogue: {unknown:?}");
    }

    #[test]
    fn accept_language_picks_by_weight() {
        assert_eq!(
            Lang::from_accept_language("de-DE,de;q=0.9,en;q=0.8"),
            Some(Lang::De)
        );
        assert_eq!(
            Lang::from_accept_language("fr-FR, en;q=0.5, de;q=0.7"),
            Some(Lang::De)
        );
        assert_eq!(Lang::from_accept_language("fr, it"), None);
        assert_eq!(Lang::from_accept_language("de;q=0, en"), Some(Lang::En));
        assert_eq!(Lang::from_accept_language(""), None);
    }

    #[test]
    fn arguments_are_filled_in() {
        assert_eq!(
            Lang::De.t1("invite-welcome", "name", "Ada"),
            "Willkommen, Ada"
        );
        assert_eq!(Lang::En.t1("invite-welcome", "name", "Ada"), "Welcome, Ada");
    }
}
