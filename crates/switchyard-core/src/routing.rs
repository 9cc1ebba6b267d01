//! Where a request may run: jurisdictions and data practices of providers, the data policies of
//! accounts, keys and requests, and a request's provider preferences.
//!
//! Enforcement is fail-closed: a provider that does not declare a practice is taken not to
//! satisfy a policy that requires it, and a request whose policy no channel satisfies is
//! refused, never sent elsewhere.

use serde::{Deserialize, Serialize};
use std::fmt::Write as _;

/// The member states of the European Union: a policy allowing `EU` admits a provider that
/// declares one of them, as well as one that declares `EU`.
pub const EU_MEMBERS: [&str; 27] = [
    "AT", "BE", "BG", "CY", "CZ", "DE", "DK", "EE", "ES", "FI", "FR", "GR", "HR", "HU", "IE", "IT",
    "LT", "LU", "LV", "MT", "NL", "PL", "PT", "RO", "SE", "SI", "SK",
];

/// A jurisdiction as written in configuration and policies: an ISO 3166-1 alpha-2 code, or
/// `EU`. Returns it upper-cased, or why it is not one.
pub fn parse_jurisdiction(text: &str) -> Result<String, String> {
    let code = text.trim().to_ascii_uppercase();
    if code.len() == 2 && code.bytes().all(|b| b.is_ascii_uppercase()) {
        Ok(code)
    } else {
        Err(format!(
            "`{text}` is not a jurisdiction: use an ISO 3166 country code such as US or DE, or EU"
        ))
    }
}

/// What a provider declares about the prompts it receives. `None` is "not declared", which no
/// policy requirement accepts.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct DataPractice {
    /// Prompts are kept after the answer (for abuse monitoring, say).
    pub retains_prompts: Option<bool>,
    /// Prompts may be used to train models.
    pub trains_on_prompts: Option<bool>,
    /// A zero-data-retention agreement covers this provider: nothing is kept.
    pub zdr: bool,
}

/// Where and how a request's prompts may be processed. Accounts, keys and single requests
/// may each carry one; they combine with [`DataPolicy::and`], which only ever narrows.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DataPolicy {
    /// The jurisdictions allowed; `None` allows any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub jurisdictions: Option<Vec<String>>,
    /// Only providers that declare they do not train on prompts.
    #[serde(default, skip_serializing_if = "is_false")]
    pub no_training: bool,
    /// Only providers that declare they do not retain prompts.
    #[serde(default, skip_serializing_if = "is_false")]
    pub no_retention: bool,
    /// Only providers under a zero-data-retention agreement.
    #[serde(default, skip_serializing_if = "is_false")]
    pub zdr: bool,
}

fn is_false(b: &bool) -> bool {
    !*b
}

/// Why a provider does not satisfy a policy.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Violation {
    Jurisdiction,
    Training,
    Retention,
    Zdr,
}

impl DataPolicy {
    /// Whether the policy restricts anything.
    pub fn is_open(&self) -> bool {
        self.jurisdictions.is_none() && !self.no_training && !self.no_retention && !self.zdr
    }

    /// Checks and normalises the jurisdictions (upper case, no duplicates).
    pub fn normalized(mut self) -> Result<DataPolicy, String> {
        if let Some(list) = self.jurisdictions.take() {
            let mut out: Vec<String> = Vec::with_capacity(list.len());
            for j in &list {
                let code = parse_jurisdiction(j)?;
                if !out.contains(&code) {
                    out.push(code);
                }
            }
            self.jurisdictions = Some(out);
        }
        Ok(self)
    }

    /// The policy that satisfies both: the common jurisdictions, every requirement of either.
    pub fn and(&self, other: &DataPolicy) -> DataPolicy {
        let jurisdictions = match (&self.jurisdictions, &other.jurisdictions) {
            (None, None) => None,
            (Some(a), None) | (None, Some(a)) => Some(a.clone()),
            (Some(a), Some(b)) => {
                // `EU` in one and `DE` in the other leaves `DE`.
                let mut both = Vec::new();
                for x in a {
                    for y in b {
                        let common = if x == y || y == "EU" && is_eu_member(x) {
                            Some(x)
                        } else if x == "EU" && is_eu_member(y) {
                            Some(y)
                        } else {
                            None
                        };
                        if let Some(c) = common
                            && !both.contains(c)
                        {
                            both.push(c.clone());
                        }
                    }
                }
                Some(both)
            }
        };
        DataPolicy {
            jurisdictions,
            no_training: self.no_training || other.no_training,
            no_retention: self.no_retention || other.no_retention,
            zdr: self.zdr || other.zdr,
        }
    }

    /// Whether a provider in `jurisdiction` with `practice` satisfies the policy; the first
    /// violation otherwise.
    pub fn admits(&self, jurisdiction: &str, practice: &DataPractice) -> Result<(), Violation> {
        if let Some(allowed) = &self.jurisdictions {
            let inside = allowed
                .iter()
                .any(|a| a == jurisdiction || a == "EU" && is_eu_member(jurisdiction));
            if !inside {
                return Err(Violation::Jurisdiction);
            }
        }
        if self.no_training && practice.trains_on_prompts != Some(false) {
            return Err(Violation::Training);
        }
        if self.no_retention && !(practice.zdr || practice.retains_prompts == Some(false)) {
            return Err(Violation::Retention);
        }
        if self.zdr && !practice.zdr {
            return Err(Violation::Zdr);
        }
        Ok(())
    }

    /// The policy in words, for error messages: `jurisdictions US, EU; no training`.
    pub fn describe(&self) -> String {
        let mut parts = Vec::new();
        if let Some(list) = &self.jurisdictions {
            if list.is_empty() {
                parts.push("no jurisdiction at all (the account's and the key's lists have none in common)".to_owned());
            } else {
                parts.push(format!("jurisdictions {}", list.join(", ")));
            }
        }
        if self.no_training {
            parts.push("no training on prompts".to_owned());
        }
        if self.no_retention {
            parts.push("no retention of prompts".to_owned());
        }
        if self.zdr {
            parts.push("zero data retention".to_owned());
        }
        parts.join("; ")
    }
}

fn is_eu_member(code: &str) -> bool {
    code == "EU" || EU_MEMBERS.contains(&code)
}

/// How to rank a model's channels instead of the default selection.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SortBy {
    /// Cheapest first (the channel's input plus output price per million tokens).
    Price,
    /// Lowest measured latency first.
    Latency,
}

/// A request's provider preferences (the OpenRouter-style `provider` object). Provider names are
/// the operator's `[[providers]]` names.
#[derive(Clone, Debug, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Preferences {
    /// Providers to try first, in this order.
    #[serde(default)]
    pub order: Vec<String>,
    /// Only these providers.
    #[serde(default)]
    pub only: Option<Vec<String>>,
    /// Never these providers.
    #[serde(default)]
    pub ignore: Vec<String>,
    /// `false`: no channel beyond `order` (or beyond the first choice when `order` is empty).
    #[serde(default = "yes")]
    pub allow_fallbacks: bool,
    #[serde(default)]
    pub sort: Option<SortBy>,
    /// `"deny"`: only providers that neither retain nor train on prompts.
    #[serde(default)]
    pub data_collection: Option<DataCollection>,
    /// Only providers under a zero-data-retention agreement.
    #[serde(default)]
    pub zdr: bool,
    /// Only providers in these jurisdictions (narrows the account's and key's lists).
    #[serde(default)]
    pub jurisdictions: Option<Vec<String>>,
}

fn yes() -> bool {
    true
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DataCollection {
    Allow,
    Deny,
}

impl Preferences {
    /// Reads the `provider` object of a request (or the `x-switchyard-provider` header), with
    /// an error that names the field.
    pub fn parse(json: &str) -> Result<Preferences, String> {
        let prefs: Preferences = serde_json::from_str(json).map_err(|e| {
            let mut message = String::from("`provider` must be an object with the fields order, only, ignore, allow_fallbacks, sort (\"price\" or \"latency\"), data_collection (\"allow\" or \"deny\"), zdr and jurisdictions");
            let _ = write!(message, ": {e}");
            message
        })?;
        if let Some(list) = &prefs.jurisdictions {
            for j in list {
                parse_jurisdiction(j)?;
            }
        }
        Ok(prefs)
    }

    /// The data policy these preferences add to the account's and the key's.
    pub fn policy(&self) -> DataPolicy {
        let deny = self.data_collection == Some(DataCollection::Deny);
        DataPolicy {
            jurisdictions: self.jurisdictions.as_ref().map(|list| {
                list.iter()
                    .filter_map(|j| parse_jurisdiction(j).ok())
                    .collect()
            }),
            no_training: deny,
            no_retention: deny,
            zdr: self.zdr,
        }
    }

    /// Whether a provider may serve this request at all (`only` and `ignore`).
    pub fn permits(&self, provider: &str) -> bool {
        self.only
            .as_ref()
            .is_none_or(|only| only.iter().any(|p| p == provider))
            && !self.ignore.iter().any(|p| p == provider)
    }

    /// Where `provider` stands in `order` (`None`: not named).
    pub fn rank(&self, provider: &str) -> Option<usize> {
        self.order.iter().position(|p| p == provider)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn practice(retains: Option<bool>, trains: Option<bool>, zdr: bool) -> DataPractice {
        DataPractice {
            retains_prompts: retains,
            trains_on_prompts: trains,
            zdr,
        }
    }

    fn only(list: &[&str]) -> DataPolicy {
        DataPolicy {
            jurisdictions: Some(list.iter().map(|s| (*s).to_owned()).collect()),
            ..DataPolicy::default()
        }
    }

    #[test]
    fn jurisdictions_admit_members_of_the_eu() {
        let p = only(&["US", "EU"]);
        let any = DataPractice::default();
        assert_eq!(p.admits("US", &any), Ok(()));
        assert_eq!(p.admits("EU", &any), Ok(()));
        assert_eq!(p.admits("DE", &any), Ok(()));
        assert_eq!(p.admits("CN", &any), Err(Violation::Jurisdiction));
        assert_eq!(p.admits("GB", &any), Err(Violation::Jurisdiction));
        // A provider that declares no jurisdiction is outside every list.
        assert_eq!(p.admits("unspecified", &any), Err(Violation::Jurisdiction));
        assert_eq!(
            only(&["DE"]).admits("EU", &any),
            Err(Violation::Jurisdiction)
        );
    }

    #[test]
    fn undeclared_practices_fail_closed() {
        let strict = DataPolicy {
            no_training: true,
            no_retention: true,
            ..DataPolicy::default()
        };
        assert_eq!(
            strict.admits("US", &DataPractice::default()),
            Err(Violation::Training)
        );
        assert_eq!(
            strict.admits("US", &practice(None, Some(false), false)),
            Err(Violation::Retention)
        );
        assert_eq!(
            strict.admits("US", &practice(Some(false), Some(false), false)),
            Ok(())
        );
        assert_eq!(
            strict.admits("US", &practice(None, Some(false), true)),
            Ok(())
        );
        let zdr = DataPolicy {
            zdr: true,
            ..DataPolicy::default()
        };
        assert_eq!(
            zdr.admits("US", &practice(Some(false), Some(false), false)),
            Err(Violation::Zdr)
        );
    }

    #[test]
    fn policies_only_narrow() {
        let account = only(&["US", "EU"]);
        let key = DataPolicy {
            no_training: true,
            ..only(&["DE", "US", "CN"])
        };
        let both = account.and(&key);
        assert_eq!(both.jurisdictions, Some(vec!["US".into(), "DE".into()]));
        assert!(both.no_training);
        assert_eq!(both.and(&DataPolicy::default()), both);
        assert!(DataPolicy::default().is_open());
        let disjoint = only(&["US"]).and(&only(&["CN"]));
        assert_eq!(disjoint.jurisdictions, Some(vec![]));
        assert!(disjoint.describe().contains("no jurisdiction"));
    }

    #[test]
    fn preferences_parse_with_clear_errors() {
        let p = Preferences::parse(
            r#"{"order":["a","b"],"ignore":["c"],"allow_fallbacks":false,"sort":"price","data_collection":"deny","zdr":true}"#,
        )
        .unwrap();
        assert_eq!(p.rank("b"), Some(1));
        assert!(p.permits("a") && !p.permits("c"));
        assert!(!p.allow_fallbacks);
        let policy = p.policy();
        assert!(policy.no_training && policy.no_retention && policy.zdr);
        assert!(Preferences::parse("{}").unwrap().allow_fallbacks);
        let err = Preferences::parse(r#"{"sort":"throughput"}"#).unwrap_err();
        assert!(err.contains("sort"), "{err}");
        let err = Preferences::parse(r#"{"jurisdictions":["Europe"]}"#).unwrap_err();
        assert!(err.contains("Europe"), "{err}");
        assert!(Preferences::parse(r#"{"bogus":1}"#).is_err());
    }

    #[test]
    fn jurisdiction_codes() {
        assert_eq!(parse_jurisdiction("us"), Ok("US".into()));
        assert_eq!(parse_jurisdiction("EU"), Ok("EU".into()));
        assert!(parse_jurisdiction("USA").is_err());
        assert!(parse_jurisdiction("").is_err());
    }
}
