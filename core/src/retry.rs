//! How long to wait before a retry.

use crate::config::RetryPolicy;
use crate::rng::Rng;

/// The wait before retry number `n` (0 for the first retry):
/// 1. none when another healthy deployment can take the retry (the caller checks that);
/// 2. the provider's `retry-after`, capped at `max_delay`;
/// 3. else `base_delay * backoff_factor^n`, capped at `max_delay`, and with `jitter` a random
///    value between half of that and all of it, so clients that failed together do not retry
///    together.
pub fn backoff_ms(policy: &RetryPolicy, n: u32, retry_after_ms: Option<u64>, rng: &mut Rng) -> u64 {
    if let Some(ra) = retry_after_ms {
        return ra.min(policy.max_delay_ms as u64);
    }
    let raw = policy.base_delay_ms * policy.backoff_factor.powi(n.min(64) as i32);
    let capped = raw.min(policy.max_delay_ms).max(0.0);
    let d = if policy.jitter {
        capped * (0.5 + 0.5 * rng.next_f64())
    } else {
        capped
    };
    d.round() as u64
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn policy(jitter: bool) -> RetryPolicy {
        RetryPolicy {
            max_retries: 5,
            base_delay_ms: 1_000.0,
            max_delay_ms: 60_000.0,
            backoff_factor: 2.0,
            jitter,
            per_class: HashMap::new(),
        }
    }

    #[test]
    fn exponential_without_jitter_capped_at_max() {
        let mut rng = Rng::seeded(1);
        let p = policy(false);
        let waits: Vec<u64> = (0..8).map(|n| backoff_ms(&p, n, None, &mut rng)).collect();
        assert_eq!(
            waits,
            vec![1_000, 2_000, 4_000, 8_000, 16_000, 32_000, 60_000, 60_000]
        );
    }

    #[test]
    fn jitter_stays_between_half_and_full() {
        let mut rng = Rng::seeded(2);
        let p = policy(true);
        let mut seen = std::collections::HashSet::new();
        for _ in 0..1_000 {
            let w = backoff_ms(&p, 2, None, &mut rng);
            assert!((2_000..=4_000).contains(&w), "{w}");
            seen.insert(w);
        }
        assert!(seen.len() > 100, "jitter varies the wait");
    }

    #[test]
    fn retry_after_is_honoured_up_to_max_delay() {
        let mut rng = Rng::seeded(3);
        let p = policy(true);
        assert_eq!(backoff_ms(&p, 0, Some(7_000), &mut rng), 7_000);
        assert_eq!(backoff_ms(&p, 0, Some(600_000), &mut rng), 60_000);
    }

    #[test]
    fn litellm_default_is_half_a_second_doubling_to_eight() {
        let mut rng = Rng::seeded(4);
        let p = RetryPolicy {
            max_retries: 2,
            base_delay_ms: 500.0,
            max_delay_ms: 8_000.0,
            backoff_factor: 2.0,
            jitter: false,
            per_class: HashMap::new(),
        };
        let waits: Vec<u64> = (0..6).map(|n| backoff_ms(&p, n, None, &mut rng)).collect();
        assert_eq!(waits, vec![500, 1_000, 2_000, 4_000, 8_000, 8_000]);
    }
}
