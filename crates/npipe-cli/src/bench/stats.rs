//! Statistics of one cell: the median of its repeats with their spread, and for round trips
//! the distribution of individual round trips (an HDR histogram over every repeat); and how
//! busy the rest of the machine was during the run.

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
    /// Round trips only: the slowest single round trip, in microseconds.
    pub(crate) max_rtt: Option<f64>,
    /// The median over repeats of each repeat's value divided by one repeat of the scenario's
    /// floor measured just before it (message rows of scenarios with a floor, see
    /// `measure::floor_repeat`). A virtual machine's speed shifts between regimes within a
    /// run (the SPSC floor's own cells ranged from 11 to 419 M msg/s in one session), so a ratio of
    /// two cells measured a minute apart can compare two different machines; two
    /// measurements a few milliseconds apart rarely do.
    pub(crate) paired: Option<f64>,
    /// Busy round trips: the same for each repeat's p50 against the floor repeat's p50.
    pub(crate) paired_p50: Option<f64>,
    /// The same against a repeat of the scenario's ring floor.
    pub(crate) paired_ring: Option<f64>,
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
        Some(Cell {
            median: median_sorted(&values),
            min: values[0],
            max: values[n - 1],
            reps: n,
            p50: rtts.and_then(|h| h.quantile_us(0.50)),
            p99: rtts.and_then(|h| h.quantile_us(0.99)),
            max_rtt: rtts.and_then(|h| h.max_us()),
            paired: None,
            paired_p50: None,
            paired_ring: None,
        })
    }

    /// The cell with [`Cell::paired`], [`Cell::paired_p50`] and [`Cell::paired_ring`] set from
    /// its repeats' ratios to their floors (each left unset when none of its ratios is finite).
    pub(crate) fn with_paired(
        mut self,
        ratios: Vec<f64>,
        p50_ratios: Vec<f64>,
        ring_ratios: Vec<f64>,
    ) -> Cell {
        self.paired = median(ratios);
        self.paired_p50 = median(p50_ratios);
        self.paired_ring = median(ring_ratios);
        self
    }
}

/// The median of the finite values, if there is one.
fn median(mut values: Vec<f64>) -> Option<f64> {
    values.retain(|v| v.is_finite());
    if values.is_empty() {
        return None;
    }
    values.sort_by(f64::total_cmp);
    Some(median_sorted(&values))
}

/// The median of sorted, non-empty values.
fn median_sorted(values: &[f64]) -> f64 {
    let n = values.len();
    if n % 2 == 1 {
        values[n / 2]
    } else {
        (values[n / 2 - 1] + values[n / 2]) / 2.0
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

    /// The median round trip, in microseconds (none recorded: `None`).
    pub(crate) fn p50_us(&self) -> Option<f64> {
        self.quantile_us(0.50)
    }

    fn max_us(&self) -> Option<f64> {
        (!self.0.is_empty()).then(|| self.0.max() as f64 / 1e3)
    }

    fn quantile_us(&self, q: f64) -> Option<f64> {
        (!self.0.is_empty()).then(|| self.0.value_at_quantile(q) as f64 / 1e3)
    }
}

/// CPU time counters, in the kernel's clock ticks: the whole machine's busy and total time
/// (`/proc/stat`), and this process's with its reaped children (`/proc/self/stat`).
#[derive(Debug, Clone, Copy)]
pub(crate) struct CpuTimes {
    busy: u64,
    total: u64,
    ours: u64,
}

impl CpuTimes {
    /// The counters now, or `None` where /proc does not have them.
    pub(crate) fn sample() -> Option<CpuTimes> {
        let stat = std::fs::read_to_string("/proc/stat").ok()?;
        // cpu user nice system idle iowait irq softirq steal ...
        let v: Vec<u64> = stat
            .lines()
            .next()?
            .strip_prefix("cpu ")?
            .split_whitespace()
            .take(8)
            .map(|x| x.parse().ok())
            .collect::<Option<_>>()?;
        let [user, nice, system, idle, iowait, irq, softirq, steal] = v[..] else {
            return None;
        };
        let me = std::fs::read_to_string("/proc/self/stat").ok()?;
        // Fields after the command name: state is field 3, utime..cstime are fields 14..17.
        let f: Vec<&str> = me.rsplit_once(')')?.1.split_whitespace().collect();
        let ours = f
            .get(11..15)?
            .iter()
            .map(|x| x.parse::<u64>().ok())
            .sum::<Option<u64>>()?;
        Some(CpuTimes {
            busy: user + nice + system + irq + softirq + steal,
            total: user + nice + system + idle + iowait + irq + softirq + steal,
            ours,
        })
    }

    /// Since `self`: the share of the machine's CPU time that other processes (or the
    /// hypervisor) used, and the share this run used.
    pub(crate) fn shares_since(&self) -> Option<(f64, f64)> {
        let now = CpuTimes::sample()?;
        let total = now.total.checked_sub(self.total)?.max(1) as f64;
        let busy = now.busy.saturating_sub(self.busy) as f64;
        let ours = now.ours.saturating_sub(self.ours) as f64;
        Some((((busy - ours) / total).max(0.0), ours / total))
    }
}

#[cfg(test)]
mod tests {
    use super::Cell;

    #[test]
    fn a_cell_keeps_the_median_of_its_paired_ratios() {
        let c = Cell::new(vec![4.0, 1.0, 2.0], None).expect("a cell");
        assert_eq!((c.median, c.min, c.max, c.paired), (2.0, 1.0, 4.0, None));
        // Not the ratio of the medians (2 / 2 = 1): each repeat against its own floor.
        let c = c.with_paired(
            vec![0.5, f64::NAN, 0.25, 0.75, 0.3],
            vec![3.0, 1.0],
            vec![2.0],
        );
        assert_eq!(
            (c.paired, c.paired_p50, c.paired_ring),
            (Some(0.4), Some(2.0), Some(2.0))
        );
        let c = Cell::new(vec![1.0], None).expect("a cell");
        let c = c.with_paired(vec![f64::INFINITY], vec![], vec![]);
        assert_eq!((c.paired, c.paired_p50, c.paired_ring), (None, None, None));
    }
}
