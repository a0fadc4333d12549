//! Choosing a deployment within a model group.

use crate::config::Deployment;
use crate::rng::Rng;

/// `simple-shuffle`: a random pick, weighted the way LiteLLM weights it.
///
/// 1. If any candidate sets `weight`, weights are `weight` (a candidate without one counts 1).
/// 2. Else if every candidate sets `rpm`, weights are `rpm`; else the same with `tpm`.
/// 3. Else every candidate is equally likely.
/// 4. If all weights are zero, every candidate is equally likely.
///
/// Returns an index into `candidates`, or `None` when there are none.
pub fn simple_shuffle(candidates: &[&Deployment], rng: &mut Rng) -> Option<usize> {
    if candidates.len() <= 1 {
        return if candidates.is_empty() { None } else { Some(0) };
    }
    let weights: Option<Vec<f64>> = if candidates.iter().any(|d| d.weight.is_some()) {
        Some(candidates.iter().map(|d| d.weight.unwrap_or(1.0)).collect())
    } else if candidates.iter().all(|d| d.rpm.is_some()) {
        Some(
            candidates
                .iter()
                .map(|d| d.rpm.unwrap_or(0) as f64)
                .collect(),
        )
    } else if candidates.iter().all(|d| d.tpm.is_some()) {
        Some(
            candidates
                .iter()
                .map(|d| d.tpm.unwrap_or(0) as f64)
                .collect(),
        )
    } else {
        None
    };
    match weights {
        Some(w) => weighted_index(&w, rng).or_else(|| Some(uniform(candidates.len(), rng))),
        None => Some(uniform(candidates.len(), rng)),
    }
}

fn uniform(n: usize, rng: &mut Rng) -> usize {
    ((rng.next_f64() * n as f64) as usize).min(n - 1)
}

/// A weighted random index; `None` when the weights sum to zero.
pub fn weighted_index(weights: &[f64], rng: &mut Rng) -> Option<usize> {
    let total: f64 = weights.iter().sum();
    if total <= 0.0 || !total.is_finite() {
        return None;
    }
    let mut x = rng.next_f64() * total;
    for (i, w) in weights.iter().enumerate() {
        if x < *w {
            return Some(i);
        }
        x -= w;
    }
    // Rounding left a sliver past the end: it belongs to the last non-zero weight.
    weights.iter().rposition(|w| *w > 0.0)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Config;

    fn deployments(params: &[&str]) -> Config {
        let list: Vec<String> = params
            .iter()
            .map(|p| format!(r#"{{"model_name":"g","litellm_params":{{"model":"gpt-4o"{p}}}}}"#))
            .collect();
        Config::from_text(
            &format!(r#"{{"model_list":[{}]}}"#, list.join(",")),
            &|_| None,
        )
        .unwrap()
    }

    fn counts(cfg: &Config, picks: usize, seed: u64) -> Vec<usize> {
        let c: Vec<&Deployment> = cfg.deployments.iter().collect();
        let mut rng = Rng::seeded(seed);
        let mut n = vec![0; c.len()];
        for _ in 0..picks {
            n[simple_shuffle(&c, &mut rng).unwrap()] += 1;
        }
        n
    }

    #[test]
    fn weights_give_their_ratio_over_10k_picks() {
        let cfg = deployments(&[r#","weight":9"#, r#","weight":1"#]);
        let n = counts(&cfg, 10_000, 1);
        // Expected 9000 / 1000; 4 standard deviations is 120.
        assert!((8_880..=9_120).contains(&n[0]), "{n:?}");
    }

    #[test]
    fn missing_weight_counts_one() {
        let cfg = deployments(&[r#","weight":3"#, ""]);
        let n = counts(&cfg, 10_000, 2);
        assert!((7_300..=7_700).contains(&n[0]), "{n:?}");
    }

    #[test]
    fn rpm_then_tpm_weigh_when_no_weight() {
        let cfg = deployments(&[r#","rpm":100"#, r#","rpm":300"#]);
        let n = counts(&cfg, 10_000, 3);
        assert!((7_300..=7_700).contains(&n[1]), "{n:?}");
        let cfg = deployments(&[r#","tpm":1000"#, r#","tpm":1000,"rpm":5"#]);
        let n = counts(&cfg, 10_000, 4);
        assert!(
            (4_800..=5_200).contains(&n[1]),
            "tpm weighs when not all set rpm: {n:?}"
        );
    }

    #[test]
    fn zero_weight_is_never_picked_unless_all_zero() {
        let cfg = deployments(&[r#","weight":0"#, r#","weight":1"#]);
        assert_eq!(counts(&cfg, 1_000, 5)[0], 0);
        let cfg = deployments(&[r#","weight":0"#, r#","weight":0"#]);
        let n = counts(&cfg, 1_000, 6);
        assert!(n[0] > 400 && n[1] > 400, "{n:?}");
    }

    #[test]
    fn unweighted_is_uniform() {
        let cfg = deployments(&["", "", ""]);
        for c in counts(&cfg, 9_000, 7) {
            assert!((2_800..=3_200).contains(&c));
        }
    }

    #[test]
    fn empty_and_single() {
        let mut rng = Rng::seeded(0);
        assert_eq!(simple_shuffle(&[], &mut rng), None);
        let cfg = deployments(&[""]);
        assert_eq!(simple_shuffle(&[&cfg.deployments[0]], &mut rng), Some(0));
    }
}
