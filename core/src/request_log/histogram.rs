//! A latency histogram with fixed bounds: small, mergeable across minutes and deployments,
//! and enough for p50/p95 on a chart (interpolated within a bucket).

use serde::{Deserialize, Serialize};

/// Upper bounds (ms) of the buckets; a last bucket holds everything slower.
pub const BOUNDS_MS: &[f64] = &[
    5.0, 10.0, 25.0, 50.0, 100.0, 200.0, 300.0, 500.0, 750.0, 1_000.0, 1_500.0, 2_000.0, 3_000.0,
    5_000.0, 7_500.0, 10_000.0, 15_000.0, 30_000.0, 60_000.0, 120_000.0,
];

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Histogram {
    /// Counts per bucket of [`BOUNDS_MS`] (and the overflow); trailing empty buckets omitted.
    #[serde(default)]
    counts: Vec<u32>,
}

impl Histogram {
    pub fn observe(&mut self, ms: f64) {
        if !ms.is_finite() || ms < 0.0 {
            return;
        }
        let i = BOUNDS_MS
            .iter()
            .position(|b| ms <= *b)
            .unwrap_or(BOUNDS_MS.len());
        if self.counts.len() <= i {
            self.counts.resize(i + 1, 0);
        }
        self.counts[i] = self.counts[i].saturating_add(1);
    }

    pub fn merge(&mut self, other: &Histogram) {
        if self.counts.len() < other.counts.len() {
            self.counts.resize(other.counts.len(), 0);
        }
        for (a, b) in self.counts.iter_mut().zip(&other.counts) {
            *a = a.saturating_add(*b);
        }
    }

    pub fn count(&self) -> u64 {
        self.counts.iter().map(|c| u64::from(*c)).sum()
    }

    /// The `q` quantile (0..1), linear within its bucket; `None` when empty. The overflow
    /// bucket answers its lower bound.
    pub fn quantile(&self, q: f64) -> Option<f64> {
        let n = self.count();
        if n == 0 {
            return None;
        }
        let rank = (q.clamp(0.0, 1.0) * n as f64).max(1.0);
        let mut seen = 0.0;
        for (i, c) in self.counts.iter().enumerate() {
            let c = f64::from(*c);
            if c > 0.0 && seen + c >= rank {
                let lo = if i == 0 { 0.0 } else { BOUNDS_MS[i - 1] };
                let Some(hi) = BOUNDS_MS.get(i) else {
                    return Some(lo);
                };
                return Some(lo + (hi - lo) * ((rank - seen) / c));
            }
            seen += c;
        }
        BOUNDS_MS.last().copied()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quantiles_fall_in_the_right_bucket() {
        let mut h = Histogram::default();
        assert_eq!(h.quantile(0.5), None);
        for _ in 0..90 {
            h.observe(40.0);
        }
        for _ in 0..10 {
            h.observe(900.0);
        }
        let p50 = h.quantile(0.5).unwrap();
        assert!((25.0..=50.0).contains(&p50), "{p50}");
        let p95 = h.quantile(0.95).unwrap();
        assert!((750.0..=1_000.0).contains(&p95), "{p95}");
        let mut other = Histogram::default();
        other.observe(200_000.0);
        h.merge(&other);
        assert_eq!(h.count(), 101);
        assert_eq!(h.quantile(1.0), Some(120_000.0));
        h.observe(f64::NAN);
        assert_eq!(h.count(), 101);
    }
}
