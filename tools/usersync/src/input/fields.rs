//! The CSV columns `usersync` understands: the upsert user's fields, with `card` and `pin`
//! standing for `auth_factors` entries.

/// A user field a CSV column can fill.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Target {
    /// `link_id` (a UUID).
    LinkId,
    /// `name` (required).
    Name,
    /// `email`.
    Email,
    /// `info`.
    Info,
    /// `role_id`.
    RoleId,
    /// `user_type`.
    UserType,
    /// `active` (a boolean).
    Active,
    /// `is_online` (a boolean).
    IsOnline,
    /// `time_profile_id` (a UUID).
    TimeProfileId,
    /// `login_ip`.
    LoginIp,
    /// `last_login_time` (RFC 3339).
    LastLoginTime,
    /// Card numbers, `|`-separated: `auth_factors` entries of type `card`.
    Card,
    /// PIN numbers, `|`-separated: `auth_factors` entries of type `pin`.
    Pin,
}

impl Target {
    /// Every target, in the documented column order.
    pub const ALL: [Target; 13] = [
        Target::LinkId,
        Target::Name,
        Target::Email,
        Target::Info,
        Target::RoleId,
        Target::UserType,
        Target::Active,
        Target::IsOnline,
        Target::TimeProfileId,
        Target::LoginIp,
        Target::LastLoginTime,
        Target::Card,
        Target::Pin,
    ];

    /// The column (and JSON field) name; `card` and `pin` are the factor types.
    pub fn as_str(self) -> &'static str {
        match self {
            Target::LinkId => "link_id",
            Target::Name => "name",
            Target::Email => "email",
            Target::Info => "info",
            Target::RoleId => "role_id",
            Target::UserType => "user_type",
            Target::Active => "active",
            Target::IsOnline => "is_online",
            Target::TimeProfileId => "time_profile_id",
            Target::LoginIp => "login_ip",
            Target::LastLoginTime => "last_login_time",
            Target::Card => "card",
            Target::Pin => "pin",
        }
    }

    /// The target named `name`, in any ASCII case.
    pub fn parse(name: &str) -> Option<Target> {
        Target::ALL
            .into_iter()
            .find(|t| t.as_str().eq_ignore_ascii_case(name))
    }

    /// The position of this target in [`Target::ALL`].
    pub fn index(self) -> usize {
        Target::ALL.iter().position(|t| *t == self).unwrap_or(0)
    }

    /// What a valid value looks like, added to the server's wrong-type text.
    pub fn expected(self) -> &'static str {
        match self {
            Target::LinkId | Target::TimeProfileId => "a UUID",
            Target::Name => "1 to 256 characters, not blank, no control characters",
            Target::Email => "1 to 1024 characters",
            Target::Info | Target::RoleId | Target::UserType => "at most 1024 characters",
            Target::Active | Target::IsOnline => "true or false",
            Target::LoginIp => "an IPv4 or IPv6 address",
            Target::LastLoginTime => {
                "an RFC 3339 date-time such as 2026-06-01T08:00:00Z, years 0000 to 9999"
            }
            Target::Card | Target::Pin => "1 to 64 characters, no control characters",
        }
    }
}

/// The list of column names for messages: `link_id, name, ..., pin`.
pub fn known_columns() -> String {
    Target::ALL
        .iter()
        .map(|t| t.as_str())
        .collect::<Vec<_>>()
        .join(", ")
}

/// A CSV boolean: `true`/`false`, `1`/`0`, `yes`/`no`, in any case, surrounding white
/// space ignored.
pub fn parse_bool(cell: &str) -> Option<bool> {
    match cell.trim().to_ascii_lowercase().as_str() {
        "true" | "1" | "yes" => Some(true),
        "false" | "0" | "no" => Some(false),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip_in_any_case() {
        for t in Target::ALL {
            assert_eq!(Target::parse(t.as_str()), Some(t));
            assert_eq!(Target::parse(&t.as_str().to_uppercase()), Some(t));
            assert_eq!(Target::ALL[t.index()], t);
        }
        assert_eq!(Target::parse("auth_factors"), None);
    }

    #[test]
    fn booleans_accept_true_false_one_zero_yes_no() {
        for yes in ["true", "TRUE", " True ", "1", "yes", "Yes"] {
            assert_eq!(parse_bool(yes), Some(true), "{yes}");
        }
        for no in ["false", "False", "0", "no", "NO"] {
            assert_eq!(parse_bool(no), Some(false), "{no}");
        }
        for bad in ["", "y", "2", "on", "truee"] {
            assert_eq!(parse_bool(bad), None, "{bad}");
        }
    }
}
