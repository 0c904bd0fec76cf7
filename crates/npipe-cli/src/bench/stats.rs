//! Statistics of one cell: the median of its repeats with their spread, and for round trips
//! the distribution of individual round trips (an HDR histogram over every repeat).

use std::time::Duration;

use hdrhistogram::Histogram;

/// One measured cell.
#[derive(Debug, Clone)]
pub(crate) struct Cell {
    /// Median of the repeats, in the scenario's unit.
    pub(crate) median: f64,
    /// Smallest and largest repeat.
    pub(crate) min: f64,
    pub(crate) max: f64,
    pub(crate) reps: usize,
    /// Round trips only: percentiles of individual round trips, in microseconds.
    pub(crate) p50: Option<f64>,
    pub(crate) p99: Option<f64>,
}

impl Cell {
    /// Summarises per-repeat values (at least one) and, for round trips, their histogram.
    pub(crate) fn new(mut values: Vec<f64>, rtts: Option<&RoundTrips>) -> Option<Cell> {
        values.retain(|v| v.is_finite());
        if values.is_empty() {
            return None;
        }
        values.sort_by(f64::total_cmp);
        let n = values.len();
        let median = if n % 2 == 1 {
            values[n / 2]
        } else {
            (values[n / 2 - 1] + values[n / 2]) / 2.0
        };
        Some(Cell {
            median,
            min: values[0],
            max: values[n - 1],
            reps: n,
            p50: rtts.and_then(|h| h.quantile_us(0.50)),
            p99: rtts.and_then(|h| h.quantile_us(0.99)),
        })
    }
}

/// Individual round-trip times, in nanoseconds.
#[derive(Debug)]
pub(crate) struct RoundTrips(Histogram<u64>);

impl RoundTrips {
    pub(crate) fn new() -> RoundTrips {
        // 1 ns to 100 s at 3 significant digits.
        let h = Histogram::new_with_bounds(1, 100_000_000_000, 3).expect("constant, valid bounds");
        RoundTrips(h)
    }

    /// Records one round trip (values past the top are clamped to it).
    pub(crate) fn record(&mut self, d: Duration) {
        let ns = u64::try_from(d.as_nanos()).unwrap_or(u64::MAX).max(1);
        self.0.saturating_record(ns);
    }

    fn quantile_us(&self, q: f64) -> Option<f64> {
        (!self.0.is_empty()).then(|| self.0.value_at_quantile(q) as f64 / 1e3)
    }
}
