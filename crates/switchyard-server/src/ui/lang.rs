//! Which interface language a page opens in: `?lang=` when given, else the best match in the
//! browser's `Accept-Language`, else English. A signed-in user's own choice (their profile)
//! is applied by the page itself once it knows who is signed in, so the shell stays free of
//! store reads.

use http::HeaderMap;

/// The interface languages: the seeds' set (issue 6). Each has a catalogue in `web/i18n/`.
pub const LANGUAGES: &[&str] = &["en", "zh", "ru", "ko", "tr"];

pub fn choose(query: Option<&str>, headers: &HeaderMap) -> &'static str {
    let asked = query.and_then(|q| {
        q.split('&')
            .find_map(|pair| pair.strip_prefix("lang="))
            .and_then(supported)
    });
    asked
        .or_else(|| {
            headers
                .get(http::header::ACCEPT_LANGUAGE)
                .and_then(|v| v.to_str().ok())
                .and_then(from_accept_language)
        })
        .unwrap_or("en")
}

/// The supported language a tag names by its primary subtag (`zh-Hans-CN` → `zh`).
fn supported(tag: &str) -> Option<&'static str> {
    let primary = tag.split(['-', '_']).next()?.trim();
    LANGUAGES
        .iter()
        .find(|l| l.eq_ignore_ascii_case(primary))
        .copied()
}

/// The supported language with the highest `q` in an `Accept-Language` value; on equal
/// weights the one listed first wins, as RFC 9110 leaves that to the server.
fn from_accept_language(value: &str) -> Option<&'static str> {
    let mut best: Option<(&'static str, u16)> = None;
    for item in value.split(',') {
        let mut parts = item.split(';');
        let tag = parts.next().unwrap_or("").trim();
        let q = parts
            .find_map(|p| p.trim().strip_prefix("q="))
            .map_or(1000, quality);
        let Some(lang) = supported(tag) else { continue };
        if q > 0 && best.is_none_or(|(_, b)| q > b) {
            best = Some((lang, q));
        }
    }
    best.map(|(lang, _)| lang)
}

/// A `q` value in thousandths (`0.8` → 800); anything unreadable counts as 0, never chosen.
fn quality(text: &str) -> u16 {
    let text = text.trim();
    let (whole, fraction) = text.split_once('.').unwrap_or((text, ""));
    match whole {
        "1" => 1000,
        "0" => {
            let digits: String = fraction.chars().take(3).collect();
            if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
                return 0;
            }
            let scale = 10u16.pow(3 - u32::try_from(digits.len()).unwrap_or(3));
            digits.parse::<u16>().unwrap_or(0) * scale
        }
        _ => 0,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(value: &str) -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert(http::header::ACCEPT_LANGUAGE, value.parse().unwrap());
        h
    }

    #[test]
    fn picks_the_highest_weight_supported_language() {
        let cases = [
            ("zh-CN,zh;q=0.9,en;q=0.8", "zh"),
            ("de-DE,de;q=0.9,ru;q=0.5,en;q=0.4", "ru"),
            ("fr, tr;q=0.2, ko;q=0.7", "ko"),
            ("ko-KR", "ko"),
            ("TR", "tr"),
            ("de, fr", "en"),
            ("ru;q=0, en;q=0.1", "en"),
            ("en;q=0.5, zh;q=0.500", "en"),
            ("ru;q=abc, zh;q=0.01", "zh"),
            ("", "en"),
        ];
        for (value, want) in cases {
            assert_eq!(choose(None, &headers(value)), want, "{value}");
        }
    }

    #[test]
    fn the_query_wins_when_it_names_a_supported_language() {
        let h = headers("zh");
        assert_eq!(choose(Some("lang=tr"), &h), "tr");
        assert_eq!(choose(Some("x=1&lang=ru-RU"), &h), "ru");
        assert_eq!(choose(Some("lang=xx"), &h), "zh");
        assert_eq!(choose(None, &HeaderMap::new()), "en");
    }
}
