//! Reseller pricing: the configured model prices are what a provider charges the platform; a
//! user pays them raised by the markup of their price group.
//!
//! **Invariant:** a markup is never negative, so no request is sold below its provider cost.

use crate::catalog::User;
use std::collections::BTreeMap;

/// The name of the group every user belongs to unless configured or assigned otherwise.
pub const DEFAULT_GROUP: &str = "default";

/// Price groups by name, each with its markup in basis points, and the group of users
/// assigned none.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PriceGroups {
    markups: BTreeMap<String, u32>,
    default_group: String,
}

impl Default for PriceGroups {
    /// Only the built-in `default` group, at no markup.
    fn default() -> Self {
        PriceGroups {
            markups: BTreeMap::from([(DEFAULT_GROUP.to_owned(), 0)]),
            default_group: DEFAULT_GROUP.to_owned(),
        }
    }
}

impl PriceGroups {
    /// Groups with their markups; the built-in `default` group (markup 0) is added unless
    /// redefined. Fails, naming the known groups, if `default_group` is not among them.
    pub fn new(
        groups: impl IntoIterator<Item = (String, u32)>,
        default_group: &str,
    ) -> Result<PriceGroups, String> {
        let mut markups = BTreeMap::from([(DEFAULT_GROUP.to_owned(), 0)]);
        markups.extend(groups);
        let known = PriceGroups {
            markups,
            default_group: default_group.to_owned(),
        };
        if !known.markups.contains_key(default_group) {
            return Err(format!(
                "the default price group `{default_group}` is not defined; known groups: {}",
                known.names().collect::<Vec<_>>().join(", ")
            ));
        }
        Ok(known)
    }

    pub fn contains(&self, group: &str) -> bool {
        self.markups.contains_key(group)
    }

    /// Group names in alphabetical order.
    pub fn names(&self) -> impl Iterator<Item = &str> {
        self.markups.keys().map(String::as_str)
    }

    pub fn default_group(&self) -> &str {
        &self.default_group
    }

    /// The markup of `group`, or of the default group for `None` and for a group that is no
    /// longer configured (a user keeps their assignment if an operator drops the group by
    /// mistake, and pays the default price meanwhile rather than being refused).
    pub fn markup_bps(&self, group: Option<&str>) -> u32 {
        group
            .and_then(|g| self.markups.get(g))
            .or_else(|| self.markups.get(&self.default_group))
            .copied()
            .unwrap_or(0)
    }

    /// The markup `user` pays.
    pub fn markup_of(&self, user: &User) -> u32 {
        self.markup_bps(user.price_group.as_deref())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn users_pay_their_groups_markup_or_the_defaults() {
        let groups = PriceGroups::new(
            [("resale".to_owned(), 2_500), ("vip".to_owned(), 500)],
            "vip",
        )
        .expect("vip is defined");
        assert_eq!(groups.markup_bps(Some("resale")), 2_500);
        assert_eq!(groups.markup_bps(None), 500, "no group: the default group");
        assert_eq!(
            groups.markup_bps(Some("gone")),
            500,
            "a dropped group: the default"
        );
        assert_eq!(
            groups.markup_bps(Some("default")),
            0,
            "the built-in group stays"
        );
        assert_eq!(
            groups.names().collect::<Vec<_>>(),
            ["default", "resale", "vip"]
        );
    }

    #[test]
    fn the_builtin_default_can_be_redefined_and_the_default_must_exist() {
        let groups = PriceGroups::new([("default".to_owned(), 1_000)], DEFAULT_GROUP)
            .expect("default is built in");
        assert_eq!(groups.markup_bps(None), 1_000);
        let error = PriceGroups::new([("resale".to_owned(), 1)], "retail").unwrap_err();
        assert!(
            error.contains("`retail`") && error.contains("default, resale"),
            "{error}"
        );
        assert_eq!(PriceGroups::default().markup_bps(None), 0);
    }
}
