//! Choosing among healthy channels of one group: power of two choices.
//!
//! Two distinct channels are drawn at random; each has a cost, its moving latency times its
//! requests in flight plus one, and the pick goes to one of them with probability proportional
//! to `weight / cost²`. Two channels of equal latency thus share traffic by weight; a channel
//! five times slower gets a twenty-sixth of the pair's traffic when idle and less under load
//! (its requests pile up in flight). Drawing only two keeps the choice O(1) however many
//! channels there are, and the soft choice keeps measuring slow channels, so one that gets
//! faster is noticed. A channel with no latency yet is taken to be as fast as the other.
//!
//! With a requested `sort`, the cheapest or fastest channel wins outright.

use super::Candidate;
use switchyard_core::routing::SortBy;

/// One of `pool` (indexes into `cands`), or `None` when the pool is empty.
pub fn choose(cands: &[Candidate], pool: &[usize], sort: Option<SortBy>) -> Option<usize> {
    match (pool.len(), sort) {
        (0, _) => None,
        (1, _) => Some(pool[0]),
        (_, Some(SortBy::Price)) => pool.iter().copied().min_by_key(|&i| {
            let p = cands[i].entry().prices;
            (p.input.0.saturating_add(p.output.0), i)
        }),
        (_, Some(SortBy::Latency)) => pool
            .iter()
            .copied()
            .min_by_key(|&i| (cands[i].entry().health.latency_us().unwrap_or(0), i)),
        (n, None) => {
            let a = pool[rand::random_range(0..n)];
            let mut b = pool[rand::random_range(0..n - 1)];
            if b == a {
                b = pool[n - 1];
            }
            let (wa, wb) = (weight_of(cands, a), weight_of(cands, b));
            let (la, lb) = latencies(cands, a, b);
            let score = |w: f64, latency: f64, i: usize| {
                let cost = latency * f64::from(cands[i].entry().health.inflight() + 1);
                w / (cost * cost)
            };
            let (sa, sb) = (score(wa, la, a), score(wb, lb, b));
            Some(if rand::random::<f64>() * (sa + sb) < sa {
                a
            } else {
                b
            })
        }
    }
}

fn weight_of(cands: &[Candidate], i: usize) -> f64 {
    f64::from(cands[i].entry().channel.weight.max(1))
}

/// The two latencies in µs, an unmeasured one taken as the other's (1 µs when neither is).
fn latencies(cands: &[Candidate], a: usize, b: usize) -> (f64, f64) {
    let la = cands[a].entry().health.latency_us();
    let lb = cands[b].entry().health.latency_us();
    let (la, lb) = match (la, lb) {
        (Some(x), Some(y)) => (x, y),
        (Some(x), None) => (x, x),
        (None, Some(y)) => (y, y),
        (None, None) => (1, 1),
    };
    (la as f64, lb as f64)
}
