//! The output: the table (each scenario with its floor, its rows, their spreads and ratios),
//! the goals evaluated from this run's ratios, and the same as JSON.

use super::stats::Cell;
use super::{Quota, Scenario, Transport};

/// One measured (scenario, transport).
#[derive(Debug)]
pub(super) struct Row {
    pub(super) scenario: Scenario,
    pub(super) transport: Transport,
    /// The cell, or why it failed.
    pub(super) cell: Result<Cell, String>,
}

/// What a goal divides by.
#[derive(Debug, Clone, Copy)]
enum Against {
    /// The scenario's floor.
    Floor,
    /// The floor's median single round trip (p50 / p50): robust to the preemptions that
    /// inflate a spinning pair's mean on a busy machine.
    FloorP50,
    /// The SEQPACKET socketpair.
    SeqPacket,
    /// Nothing: the value itself.
    Absolute,
}

/// A target of the performance issue, checked for the npipe rows at 4, 64 and 256 KiB.
#[derive(Debug)]
struct Goal {
    text: &'static str,
    scenario: Scenario,
    against: Against,
    target: f64,
    /// Whether the ratio must stay at or below `target` (times) instead of reaching it.
    at_most: bool,
}

const GOALS: [Goal; 6] = [
    Goal {
        text: "1 MiB one-way >= 0.6x memcpy",
        scenario: Scenario::Throughput1m,
        against: Against::Floor,
        target: 0.6,
        at_most: false,
    },
    Goal {
        text: "64 B one-way rate >= 0.3x SPSC ring",
        scenario: Scenario::Rate,
        against: Against::Floor,
        target: 0.3,
        at_most: false,
    },
    Goal {
        text: "64 B round trip, busy <= 2x ping-pong",
        scenario: Scenario::Rtt,
        against: Against::Floor,
        target: 2.0,
        at_most: true,
    },
    Goal {
        text: "64 B round trip, busy, p50 <= 2x ping-pong p50",
        scenario: Scenario::Rtt,
        against: Against::FloorP50,
        target: 2.0,
        at_most: true,
    },
    Goal {
        text: "64 B round trip, asleep <= 1x SEQPACKET",
        scenario: Scenario::RttIdle,
        against: Against::SeqPacket,
        target: 1.0,
        at_most: true,
    },
    Goal {
        text: "connections/s >= 20,000",
        scenario: Scenario::Connect,
        against: Against::Absolute,
        target: 20_000.0,
        at_most: false,
    },
];

const GOAL_QUOTAS: [Quota; 3] = [Quota::K4, Quota::K64, Quota::K256];
/// The C ABI row against the Rust API row at the same quota: within 10%.
const CAPI_SCENARIOS: [Scenario; 4] = [
    Scenario::Rtt,
    Scenario::Rate,
    Scenario::Throughput1m,
    Scenario::Cpu,
];
const CAPI_TOLERANCE: f64 = 0.10;

/// One evaluated goal.
#[derive(Debug)]
struct Verdict {
    goal: String,
    transport: Transport,
    /// The ratio (or value, for absolute goals); `None` when a cell is missing.
    measured: Option<f64>,
    target: String,
    met: Option<bool>,
}

/// Every row of the run, with lookups for ratios.
#[derive(Debug)]
pub(super) struct Report {
    rows: Vec<Row>,
    scenarios: Vec<Scenario>,
    /// Shares of the machine's CPU time during the run: other processes', this run's.
    cpu: Option<(f64, f64)>,
}

impl Report {
    pub(super) fn new(rows: Vec<Row>, scenarios: Vec<Scenario>, cpu: Option<(f64, f64)>) -> Report {
        Report {
            rows,
            scenarios,
            cpu,
        }
    }

    /// The measured cell of scenario `sc` and transport `t`, if it ran and succeeded.
    fn cell(&self, sc: Scenario, t: Transport) -> Option<&Cell> {
        self.rows
            .iter()
            .find(|r| r.scenario == sc && r.transport == t)?
            .cell
            .as_ref()
            .ok()
    }

    fn median(&self, sc: Scenario, t: Transport) -> Option<f64> {
        self.cell(sc, t).map(|c| c.median)
    }

    /// value / floor of the scenario: the median of the row's paired ratios where it has them
    /// (see `Cell::paired`), else the row's median over the floor's.
    fn vs_floor(&self, r: &Row) -> Option<f64> {
        let c = r.cell.as_ref().ok()?;
        c.paired.or_else(|| self.vs_floor_cells(r))
    }

    /// The row's median / the floor's median: two cells measured up to minutes apart.
    fn vs_floor_cells(&self, r: &Row) -> Option<f64> {
        let floor = r.scenario.floor()?;
        Some(r.cell.as_ref().ok()?.median / self.median(r.scenario, floor)?)
    }

    /// value / the ring floor of the scenario (see `floors::ring`): paired per repeat where the
    /// row has it, as [`Report::vs_floor`].
    fn vs_ring(&self, r: &Row) -> Option<f64> {
        if let Some(p) = r.cell.as_ref().ok()?.paired_ring {
            return Some(p);
        }
        let floor = r.scenario.ring_floor()?;
        Some(r.cell.as_ref().ok()?.median / self.median(r.scenario, floor)?)
    }

    /// p50 / the floor's p50 (round trips): the median of the row's paired ratios where it
    /// has them, else over every repeat of both cells.
    fn vs_floor_p50(&self, r: &Row) -> Option<f64> {
        if let Some(p) = r.cell.as_ref().ok()?.paired_p50 {
            return Some(p);
        }
        let floor = r.scenario.floor()?;
        let p50 = |t: Transport| self.cell(r.scenario, t)?.p50;
        Some(p50(r.transport)? / p50(floor)?)
    }

    /// value / SEQPACKET of the scenario.
    fn vs_seqpacket(&self, r: &Row) -> Option<f64> {
        Some(r.cell.as_ref().ok()?.median / self.median(r.scenario, Transport::SeqPacket)?)
    }

    fn verdicts(&self) -> Vec<Verdict> {
        let mut out = Vec::new();
        for g in &GOALS {
            if !self.scenarios.contains(&g.scenario) {
                continue;
            }
            for q in GOAL_QUOTAS {
                let t = Transport::Npipe(q);
                let Some(row) = self
                    .rows
                    .iter()
                    .find(|r| r.scenario == g.scenario && r.transport == t)
                else {
                    continue;
                };
                let measured = match g.against {
                    Against::Floor => self.vs_floor(row),
                    Against::FloorP50 => self.vs_floor_p50(row),
                    Against::SeqPacket => self.vs_seqpacket(row),
                    Against::Absolute => row.cell.as_ref().ok().map(|c| c.median),
                };
                out.push(Verdict {
                    goal: g.text.to_owned(),
                    transport: t,
                    measured,
                    target: format!("{} {}", if g.at_most { "<=" } else { ">=" }, g.target),
                    met: measured.map(|m| {
                        if g.at_most {
                            m <= g.target
                        } else {
                            m >= g.target
                        }
                    }),
                });
            }
        }
        let rust = Transport::Npipe(super::SIDE_QUOTA);
        for sc in CAPI_SCENARIOS {
            if !self.scenarios.contains(&sc) {
                continue;
            }
            if !self
                .rows
                .iter()
                .any(|r| r.transport == Transport::NpipeCapi)
            {
                continue;
            }
            // Through each row's paired ratio to the floor where both have one: the two rows
            // are measured minutes apart, each repeat next to a floor repeat.
            let paired = |t: Transport| self.cell(sc, t)?.paired;
            let measured = match (paired(Transport::NpipeCapi), paired(rust)) {
                (Some(c), Some(r)) => Some(c / r),
                _ => self
                    .median(sc, Transport::NpipeCapi)
                    .zip(self.median(sc, rust))
                    .map(|(c, r)| c / r),
            };
            out.push(Verdict {
                goal: format!("C ABI / Rust API, {}", sc.label()),
                transport: Transport::NpipeCapi,
                measured,
                target: format!("1 +- {CAPI_TOLERANCE}"),
                met: measured.map(|m| (m - 1.0).abs() <= CAPI_TOLERANCE),
            });
        }
        out
    }

    pub(super) fn print_table(&self, reps: usize) {
        println!("Machine: {}", machine());
        if let Some((others, ours)) = self.cpu {
            println!(
                "CPU time during the run: {:.0}% of the machine used by other processes, {:.0}% by \
                 this run.",
                others * 100.0,
                ours * 100.0
            );
        }
        println!(
            "Each cell is the median of {reps} repeats with their range [min..max] (a round-trip"
        );
        println!(
            "repeat counts its mean round trip); round trips also give p50/p99 of single round"
        );
        println!(
            "trips over all repeats. 'floor' = value / the floor of the scenario (rate: bare SPSC"
        );
        println!(
            "ring; busy round trip: spin ping-pong; throughput: memcpy): for message rows, the"
        );
        println!(
            "median of each repeat's value / a floor repeat run just before it (a VM's speed can"
        );
        println!(
            "change between cells; the floor's own row is a cell of its own); 'seqpkt' = value / the"
        );
        println!(
            "SEQPACKET socketpair; 'p50/floor' = p50 / the floor's p50 (busy round trips; paired"
        );
        println!("per repeat as 'floor' is);");
        println!("'ring' = value / the ring floor: the same transfer through shared-memory rings,");
        println!(
            "both processes spinning (busy round trip: two rings; throughput: a ring copy whose"
        );
        println!(
            "writes complete as W91 says, at a 64 KiB quota; rate: the SPSC ring with each side"
        );
        println!(
            "taking and releasing a lock around each record), paired per repeat as 'floor' is."
        );
        println!("Round trips and ns/msg: lower is better; the rest: higher is better.");
        match super::floors::floor_cpus() {
            Some((a, b)) => {
                println!("The floors' two processes spin pinned to CPUs {a} and {b}.\n")
            }
            None => println!("One CPU only: the spinning floors share it.\n"),
        }
        for &sc in &self.scenarios {
            let rtt = sc.is_round_trip();
            println!("{} ({})", sc.label(), sc.unit());
            print!("  {:<28}{:>10} {:<21}", "", "median", "[min..max]");
            if rtt {
                print!("{:>9}{:>9}", "p50", "p99");
            }
            print!("{:>9}{:>9}", "floor", "seqpkt");
            if sc.floor().is_some() && rtt {
                print!("{:>11}", "p50/floor");
            }
            if sc.ring_floor().is_some() {
                print!("{:>9}", "ring");
            }
            println!();
            for r in self.rows.iter().filter(|r| r.scenario == sc) {
                let c = match &r.cell {
                    Ok(c) => c,
                    Err(e) => {
                        println!("  {:<28} failed: {e}", r.transport.label());
                        continue;
                    }
                };
                let spread = format!("[{}..{}]", fmt_value(c.min), fmt_value(c.max));
                print!(
                    "  {:<28}{:>10} {:<21}",
                    r.transport.label(),
                    fmt_value(c.median),
                    spread
                );
                if rtt {
                    print!("{:>9}{:>9}", fmt_opt(c.p50), fmt_opt(c.p99));
                }
                print!(
                    "{:>9}{:>9}",
                    fmt_ratio(self.vs_floor(r)),
                    fmt_ratio(self.vs_seqpacket(r))
                );
                if sc.floor().is_some() && rtt {
                    print!("{:>11}", fmt_ratio(self.vs_floor_p50(r)));
                }
                if sc.ring_floor().is_some() {
                    print!("{:>9}", fmt_ratio(self.vs_ring(r)));
                }
                println!();
            }
            println!();
        }
        let verdicts = self.verdicts();
        if verdicts.is_empty() {
            return;
        }
        println!("Goals of the performance issue, from this run:");
        for v in &verdicts {
            let measured = match v.measured {
                Some(m) if v.goal.starts_with("connections") => format!("{m:.0}"),
                Some(m) => format!("{m:.3}x"),
                None => "-".into(),
            };
            let met = match v.met {
                Some(true) => "met",
                Some(false) => "MISSED",
                None => "no data",
            };
            println!(
                "  {:<52} {:<27} {:>10}  {:<8} {met}",
                v.goal,
                v.transport.label(),
                measured,
                v.target
            );
        }
    }

    pub(super) fn print_json(&self, reps: usize) {
        println!(
            "{{\"machine\": {}, \"cpu_share_others\": {}, \"cpu_share_run\": {}, \
             \"repeats\": {reps}, \"baseline\": \"seqpacket\", \"rows\": [",
            json_str(&machine()),
            json_num(self.cpu.map(|c| c.0)),
            json_num(self.cpu.map(|c| c.1))
        );
        for (i, r) in self.rows.iter().enumerate() {
            let c = r.cell.as_ref().ok();
            println!(
                "  {{\"scenario\": {}, \"transport\": {}, \"unit\": {}, \"lower_is_better\": {}, \
                 \"value\": {}, \"min\": {}, \"max\": {}, \"reps\": {}, \"p50_us\": {}, \
                 \"p99_us\": {}, \"max_us\": {}, \"floor\": {}, \"ratio_floor\": {}, \
                 \"floor_paired\": {}, \"ratio_floor_cells\": {}, \
                 \"ratio_floor_p50\": {}, \
                 \"ring_floor\": {}, \"ratio_ring\": {}, \"ring_paired\": {}, \"ratio\": {}, \
                 \"error\": {}}}{}",
                json_str(&r.scenario.key()),
                json_str(r.transport.key()),
                json_str(r.scenario.unit()),
                r.scenario.lower_is_better(),
                json_num(c.map(|c| c.median)),
                json_num(c.map(|c| c.min)),
                json_num(c.map(|c| c.max)),
                c.map_or(0, |c| c.reps),
                json_num(c.and_then(|c| c.p50)),
                json_num(c.and_then(|c| c.p99)),
                json_num(c.and_then(|c| c.max_rtt)),
                r.scenario
                    .floor()
                    .map_or("null".into(), |f| json_str(f.key())),
                json_num(self.vs_floor(r)),
                c.is_some_and(|c| c.paired.is_some()),
                json_num(self.vs_floor_cells(r)),
                json_num(self.vs_floor_p50(r)),
                r.scenario
                    .ring_floor()
                    .map_or("null".into(), |f| json_str(f.key())),
                json_num(self.vs_ring(r)),
                c.is_some_and(|c| c.paired_ring.is_some()),
                json_num(self.vs_seqpacket(r)),
                r.cell.as_ref().err().map_or("null".into(), |e| json_str(e)),
                if i + 1 < self.rows.len() { "," } else { "" }
            );
        }
        println!("], \"goals\": [");
        let verdicts = self.verdicts();
        for (i, v) in verdicts.iter().enumerate() {
            println!(
                "  {{\"goal\": {}, \"transport\": {}, \"measured\": {}, \"target\": {}, \"met\": {}}}{}",
                json_str(&v.goal),
                json_str(v.transport.key()),
                json_num(v.measured),
                json_str(&v.target),
                v.met.map_or("null".into(), |m| m.to_string()),
                if i + 1 < verdicts.len() { "," } else { "" }
            );
        }
        println!("]}}");
    }
}

/// The machine the numbers come from: CPU model and count, kernel.
fn machine() -> String {
    let read = |p: &str| std::fs::read_to_string(p).unwrap_or_default();
    let cpuinfo = read("/proc/cpuinfo");
    let model = cpuinfo
        .lines()
        .find_map(|l| l.strip_prefix("model name")?.split_once(':'))
        .map_or("unknown CPU", |(_, m)| m.trim());
    let cpus = std::thread::available_parallelism().map_or(0, |n| n.get());
    let kernel = read("/proc/sys/kernel/osrelease");
    format!("{cpus} x {model}, Linux {}", kernel.trim())
}

fn fmt_value(v: f64) -> String {
    if v >= 1000.0 {
        format!("{v:.0}")
    } else if v >= 10.0 {
        format!("{v:.1}")
    } else {
        format!("{v:.3}")
    }
}

fn fmt_opt(v: Option<f64>) -> String {
    v.map_or_else(|| "-".into(), fmt_value)
}

fn fmt_ratio(v: Option<f64>) -> String {
    match v {
        Some(x) if x >= 100.0 => format!("{x:.0}x"),
        Some(x) if x >= 10.0 => format!("{x:.1}x"),
        Some(x) => format!("{x:.3}x"),
        None => "-".into(),
    }
}

fn json_str(s: &str) -> String {
    let mut o = String::from("\"");
    for c in s.chars() {
        match c {
            '"' => o.push_str("\\\""),
            '\\' => o.push_str("\\\\"),
            c if (c as u32) < 0x20 => o.push_str(&format!("\\u{:04x}", c as u32)),
            c => o.push(c),
        }
    }
    o.push('"');
    o
}

fn json_num(v: Option<f64>) -> String {
    match v {
        Some(v) if v.is_finite() => format!("{v}"),
        _ => "null".into(),
    }
}
