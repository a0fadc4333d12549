//! When a failing deployment is taken out of rotation for `cooldown_time`.

use crate::config::RouterSettings;
use crate::error::ErrorClass;
use crate::state::Snapshot;

/// Whether the failure just recorded (already counted in `after`) cools the deployment down:
/// 1. never when `cooldown_time` is 0, or for errors that are the request's fault (400s,
///    context window, content policy);
/// 2. never for a group's only deployment when the group has no fallback (cooling it would turn
///    a passing error into a hard outage);
/// 3. at once for 429 and 401/403 (the deployment said it cannot serve) and for a timeout (it
///    said nothing for a whole timeout: asking it again soon would likely cost another);
/// 4. else when this minute's failures of that class exceed `allowed_fails_policy`'s count for
///    the class, or, without one, when this minute's failures exceed `allowed_fails`.
pub fn should_cool_down(
    class: ErrorClass,
    after: &Snapshot,
    settings: &RouterSettings,
    group_size: usize,
    group_has_fallbacks: bool,
) -> bool {
    if settings.cooldown_ms == 0 || !class.blames_deployment() {
        return false;
    }
    if group_size <= 1 && !group_has_fallbacks {
        return false;
    }
    if let Some(limit) = settings.allowed_fails_policy.get(&class) {
        return after.fails_by_class.get(&class).copied().unwrap_or(0) > *limit;
    }
    if matches!(
        class,
        ErrorClass::RateLimit | ErrorClass::Authentication | ErrorClass::Timeout
    ) {
        return true;
    }
    after.fails_this_minute > settings.allowed_fails
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Config;

    fn settings(extra: &str) -> RouterSettings {
        Config::from_text(
            &format!(r#"{{"router_settings":{{{extra}}}}}"#),
            &|_: &str| None,
        )
        .unwrap()
        .router
    }

    fn after(fails: u32, class: ErrorClass) -> Snapshot {
        let mut s = Snapshot {
            fails_this_minute: fails,
            ..Default::default()
        };
        s.fails_by_class.insert(class, fails);
        s
    }

    #[test]
    fn allowed_fails_counts_this_minute() {
        let s = settings("");
        assert_eq!(s.allowed_fails, 3);
        assert!(!should_cool_down(
            ErrorClass::InternalServer,
            &after(3, ErrorClass::InternalServer),
            &s,
            2,
            false
        ));
        assert!(should_cool_down(
            ErrorClass::InternalServer,
            &after(4, ErrorClass::InternalServer),
            &s,
            2,
            false
        ));
        let s = settings(r#""allowed_fails":1"#);
        assert!(!should_cool_down(
            ErrorClass::NotFound,
            &after(1, ErrorClass::NotFound),
            &s,
            2,
            false
        ));
        assert!(should_cool_down(
            ErrorClass::NotFound,
            &after(2, ErrorClass::NotFound),
            &s,
            2,
            false
        ));
    }

    #[test]
    fn rate_limit_auth_and_silence_cool_at_once_but_bad_requests_never() {
        let s = settings("");
        assert!(should_cool_down(
            ErrorClass::Timeout,
            &after(1, ErrorClass::Timeout),
            &s,
            2,
            false
        ));
        // Unless the policy for timeouts allows some.
        let lenient = settings(r#""allowed_fails_policy":{"TimeoutErrorAllowedFails":2}"#);
        assert!(!should_cool_down(
            ErrorClass::Timeout,
            &after(2, ErrorClass::Timeout),
            &lenient,
            2,
            false
        ));
        assert!(should_cool_down(
            ErrorClass::RateLimit,
            &after(1, ErrorClass::RateLimit),
            &s,
            2,
            false
        ));
        assert!(should_cool_down(
            ErrorClass::Authentication,
            &after(1, ErrorClass::Authentication),
            &s,
            2,
            false
        ));
        for c in [
            ErrorClass::BadRequest,
            ErrorClass::ContextWindowExceeded,
            ErrorClass::ContentPolicyViolation,
        ] {
            assert!(!should_cool_down(c, &after(100, c), &s, 2, false), "{c:?}");
        }
    }

    #[test]
    fn sole_deployment_is_spared_unless_a_fallback_exists() {
        let s = settings("");
        assert!(!should_cool_down(
            ErrorClass::RateLimit,
            &after(9, ErrorClass::RateLimit),
            &s,
            1,
            false
        ));
        assert!(should_cool_down(
            ErrorClass::RateLimit,
            &after(9, ErrorClass::RateLimit),
            &s,
            1,
            true
        ));
    }

    #[test]
    fn zero_cooldown_time_disables() {
        let s = settings(r#""cooldown_time":0"#);
        assert!(!should_cool_down(
            ErrorClass::RateLimit,
            &after(9, ErrorClass::RateLimit),
            &s,
            3,
            true
        ));
    }

    #[test]
    fn allowed_fails_policy_per_class() {
        let s = settings(
            r#""allowed_fails_policy":{"TimeoutErrorAllowedFails":5,"RateLimitErrorAllowedFails":2}"#,
        );
        assert!(!should_cool_down(
            ErrorClass::Timeout,
            &after(5, ErrorClass::Timeout),
            &s,
            2,
            false
        ));
        assert!(should_cool_down(
            ErrorClass::Timeout,
            &after(6, ErrorClass::Timeout),
            &s,
            2,
            false
        ));
        assert!(
            !should_cool_down(
                ErrorClass::RateLimit,
                &after(2, ErrorClass::RateLimit),
                &s,
                2,
                false
            ),
            "policy overrides at-once"
        );
        assert!(should_cool_down(
            ErrorClass::RateLimit,
            &after(3, ErrorClass::RateLimit),
            &s,
            2,
            false
        ));
    }
}
