//! The routing strategies: each picks one of the candidates that passed the filters in
//! `select`, by its own rule.

use super::Candidate;
use crate::config::{Deployment, RoutingStrategy, StrategyArgs};
use crate::cost;
use crate::rng::Rng;

/// Picks an index into `c` (never empty) by `strategy`.
pub fn pick(
    strategy: RoutingStrategy,
    c: &[Candidate<'_>],
    args: &StrategyArgs,
    rng: &mut Rng,
) -> usize {
    match strategy {
        RoutingStrategy::SimpleShuffle => {
            let ds: Vec<&Deployment> = c.iter().map(|x| x.d).collect();
            simple_shuffle(&ds, rng).unwrap_or(0)
        }
        RoutingStrategy::LeastBusy => least_busy(c, rng),
        RoutingStrategy::UsageBased => lowest_usage(c, rng),
        RoutingStrategy::LatencyBased => lowest_latency(c, args.lowest_latency_buffer, rng),
        RoutingStrategy::CostBased => cheapest(c, rng),
    }
}

/// A random index among those whose score is the lowest (within `tolerance` times it).
fn random_among_lowest(scores: &[f64], tolerance: f64, rng: &mut Rng) -> usize {
    let best = scores.iter().copied().fold(f64::INFINITY, f64::min);
    let limit = if best.is_finite() {
        best + best.abs() * tolerance
    } else {
        best
    };
    let near: Vec<usize> = scores
        .iter()
        .enumerate()
        .filter(|(_, s)| **s <= limit || (!best.is_finite() && !s.is_finite()))
        .map(|(i, _)| i)
        .collect();
    if near.is_empty() {
        return 0;
    }
    near[((rng.next_f64() * near.len() as f64) as usize).min(near.len() - 1)]
}

/// `least-busy`:
/// 1. the fewest calls in flight (counted from the start of each upstream call to its last
///    byte, streams included);
/// 2. ties broken at random.
fn least_busy(c: &[Candidate<'_>], rng: &mut Rng) -> usize {
    let scores: Vec<f64> = c.iter().map(|x| f64::from(x.snap.in_flight)).collect();
    random_among_lowest(&scores, 0.0, rng)
}

/// `usage-based-routing` (and `-v2`):
/// 1. deployments whose `rpm`/`tpm` this request would exceed were already filtered out;
/// 2. the fewest tokens used this minute;
/// 3. ties broken at random.
fn lowest_usage(c: &[Candidate<'_>], rng: &mut Rng) -> usize {
    let scores: Vec<f64> = c.iter().map(|x| x.snap.tokens_this_minute as f64).collect();
    random_among_lowest(&scores, 0.0, rng)
}

/// `latency-based-routing`:
/// 1. a deployment's latency is the mean of its recent samples (ms per output token for
///    completions, time to first token for streams) within the TTL;
/// 2. one with no sample yet counts as fastest, so every deployment gets measured;
/// 3. a random pick among those within `lowest_latency_buffer` of the best (0: the best).
fn lowest_latency(c: &[Candidate<'_>], buffer: f64, rng: &mut Rng) -> usize {
    let scores: Vec<f64> = c.iter().map(|x| x.snap.latency_ms.unwrap_or(0.0)).collect();
    random_among_lowest(&scores, buffer, rng)
}

/// `cost-based-routing`:
/// 1. limits were already applied;
/// 2. the lowest `input_cost_per_token + output_cost_per_token` (from `model_info`, else the
///    built-in table); a deployment with no known price comes last;
/// 3. ties broken at random.
fn cheapest(c: &[Candidate<'_>], rng: &mut Rng) -> usize {
    let scores: Vec<f64> = c
        .iter()
        .map(|x| {
            cost::prices(x.d)
                .map(|(i, o)| i + o)
                .unwrap_or(f64::INFINITY)
        })
        .collect();
    random_among_lowest(&scores, 0.0, rng)
}

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
            &|_: &str| None,
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

    fn crafted<'a>(cfg: &'a Config, snaps: Vec<crate::state::Snapshot>) -> Vec<Candidate<'a>> {
        cfg.deployments
            .iter()
            .zip(snaps)
            .map(|(d, snap)| Candidate { d, snap })
            .collect()
    }

    fn snap(in_flight: u32, tokens: u64, latency: Option<f64>) -> crate::state::Snapshot {
        crate::state::Snapshot {
            in_flight,
            tokens_this_minute: tokens,
            latency_ms: latency,
            ..Default::default()
        }
    }

    fn histogram(
        strategy: RoutingStrategy,
        c: &[Candidate<'_>],
        args: &StrategyArgs,
    ) -> Vec<usize> {
        let mut rng = Rng::seeded(9);
        let mut n = vec![0; c.len()];
        for _ in 0..1_000 {
            n[pick(strategy, c, args, &mut rng)] += 1;
        }
        n
    }

    #[test]
    fn least_busy_picks_fewest_in_flight_and_spreads_ties() {
        let cfg = deployments(&["", "", ""]);
        let c = crafted(
            &cfg,
            vec![snap(3, 0, None), snap(1, 0, None), snap(1, 0, None)],
        );
        let n = histogram(RoutingStrategy::LeastBusy, &c, &StrategyArgs::default());
        assert_eq!(n[0], 0);
        assert!(n[1] > 400 && n[2] > 400, "{n:?}");
    }

    #[test]
    fn usage_based_picks_lowest_tokens_this_minute() {
        let cfg = deployments(&["", "", ""]);
        let c = crafted(
            &cfg,
            vec![snap(0, 500, None), snap(9, 100, None), snap(0, 300, None)],
        );
        assert_eq!(
            histogram(RoutingStrategy::UsageBased, &c, &StrategyArgs::default()),
            vec![0, 1_000, 0]
        );
    }

    #[test]
    fn latency_based_prefers_fastest_and_unmeasured_and_buffer_spreads() {
        let cfg = deployments(&["", "", ""]);
        let args = StrategyArgs::default();
        let c = crafted(
            &cfg,
            vec![
                snap(0, 0, Some(50.0)),
                snap(0, 0, Some(20.0)),
                snap(0, 0, Some(22.0)),
            ],
        );
        assert_eq!(
            histogram(RoutingStrategy::LatencyBased, &c, &args),
            vec![0, 1_000, 0]
        );
        let c2 = crafted(
            &cfg,
            vec![
                snap(0, 0, Some(50.0)),
                snap(0, 0, None),
                snap(0, 0, Some(22.0)),
            ],
        );
        assert_eq!(
            histogram(RoutingStrategy::LatencyBased, &c2, &args),
            vec![0, 1_000, 0],
            "unmeasured first"
        );
        let buffered = StrategyArgs {
            lowest_latency_buffer: 0.5,
            ..StrategyArgs::default()
        };
        let n = histogram(RoutingStrategy::LatencyBased, &c, &buffered);
        assert_eq!(n[0], 0, "50 is outside 20 * 1.5");
        assert!(n[1] > 400 && n[2] > 400, "{n:?}");
    }

    #[test]
    fn cost_based_picks_cheapest_known_price() {
        let text = r#"{"model_list":[
            {"model_name":"g","litellm_params":{"model":"openai/gpt-4o"}},
            {"model_name":"g","litellm_params":{"model":"openai/gpt-4o-mini"}},
            {"model_name":"g","litellm_params":{"model":"openai/mystery"}},
            {"model_name":"g","litellm_params":{"model":"openai/priced"},"model_info":{"input_cost_per_token":0.0000001,"output_cost_per_token":0.0000001}}]}"#;
        let cfg = Config::from_text(text, &|_: &str| None).unwrap();
        let c = crafted(&cfg, vec![snap(0, 0, None); 4]);
        assert_eq!(
            histogram(RoutingStrategy::CostBased, &c, &StrategyArgs::default()),
            vec![0, 0, 0, 1_000]
        );
        let c3 = crafted(&cfg, vec![snap(0, 0, None); 3]);
        assert_eq!(
            histogram(RoutingStrategy::CostBased, &c3, &StrategyArgs::default()),
            vec![0, 1_000, 0]
        );
    }

    #[test]
    fn empty_and_single() {
        let mut rng = Rng::seeded(0);
        assert_eq!(simple_shuffle(&[], &mut rng), None);
        let cfg = deployments(&[""]);
        assert_eq!(simple_shuffle(&[&cfg.deployments[0]], &mut rng), Some(0));
    }
}
