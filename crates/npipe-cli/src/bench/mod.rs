//! `npipe bench`: npipe against raw kernel IPC, peer crates and bare "floors", across two real
//! processes, in one run. Every npipe row prints its ratio to the floor of its scenario (the
//! fastest the machine can go) and to the raw SOCK_SEQPACKET socketpair.
//!
//! This module owns the command-line options, the transports and scenarios, and the driver
//! that runs one job per (scenario, transport). The rest, by mechanism:
//! - `chan`: the message channels of every transport, both ends;
//! - `capi`: the channel through npipe's C ABI (the only other `unsafe` besides `floors`);
//! - `floors`: the bare shared-memory ring, the spin ping-pong and memcpy, and the ring floors
//!   (round trips and throughput through bare shared-memory rings; the rate through the SPSC
//!   ring with a lock per side);
//! - `measure`: the timing loops of each scenario; `peer`: the re-spawned peer process;
//! - `stats`: medians, spreads and round-trip histograms; `report`: the table and JSON.

mod capi;
mod chan;
mod floors;
mod loopback;
mod measure;
mod peer;
mod report;
mod stats;

use std::io::{self, IsTerminal};
use std::time::Instant;

use clap::builder::PossibleValue;
use clap::{Args, ValueEnum};
use indicatif::{ProgressBar, ProgressStyle};

pub(crate) use peer::{peer_main, PeerArgs};

/// npipe's queue quota (nInBufferSize = nOutBufferSize) in a benchmark row.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Quota {
    /// The buffer size Microsoft's named-pipe samples pass (BUFSIZE 512): not a goal row,
    /// shown for what such programs get.
    B512,
    K4,
    K64,
    K256,
    M4,
}

impl Quota {
    const ALL: [Quota; 5] = [Quota::B512, Quota::K4, Quota::K64, Quota::K256, Quota::M4];

    fn bytes(self) -> u32 {
        match self {
            Quota::B512 => 512,
            Quota::K4 => 4 << 10,
            Quota::K64 => 64 << 10,
            Quota::K256 => 256 << 10,
            Quota::M4 => 4 << 20,
        }
    }
}

/// Transports (and floors), in table order.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Transport {
    /// The Rust API, blocking calls, message pipes in message read mode.
    Npipe(Quota),
    /// npipe driven the event-loop way: nonblocking steps, readiness descriptor, poll(2) (the
    /// mechanism under the C ABI's overlapped I/O), at a 64 KiB quota.
    NpipeNb,
    /// `npipe::tokio` on a current-thread runtime in each process (one `block_on` per
    /// message), at a 64 KiB quota: the cost of the reactor next to the blocking rows.
    NpipeTokio,
    /// The C ABI (CreateNamedPipeA, ReadFile, WriteFile) at a 64 KiB quota.
    NpipeCapi,
    /// The same on handles opened with FILE_FLAG_OVERLAPPED: an OVERLAPPED with an event,
    /// WaitForSingleObject while pending, GetOverlappedResult (Microsoft's server sample).
    NpipeCapiOv,
    SeqPacket,
    Stream,
    Pipe,
    Interprocess,
    IpcChannel,
    /// Floor of the 64 B rate: a bare SPSC ring of 64 B records in shared memory.
    SpscRing,
    /// Ring floor of the 64 B rate: the same ring, each side taking and releasing an
    /// uncontended lock around each record.
    SpscLocked,
    /// Floor of the busy round trip: a bare spin ping-pong on one shared cache line.
    PingPong,
    /// Floor of throughput: memcpy in one process.
    Memcpy,
    /// Ring floor of the busy round trip: 64 B records through two bare shared-memory rings.
    RingRtt,
    /// Ring floor of throughput: messages through a bare shared-memory ring, a copy per side.
    RingCopy,
    /// The same, each message complete only once all but 64 KiB of it is read (W91).
    RingCopyW91,
}

/// The quota of the event-loop and C ABI rows.
const SIDE_QUOTA: Quota = Quota::K64;

impl Transport {
    const ALL: [Transport; 21] = [
        Transport::SpscRing,
        Transport::SpscLocked,
        Transport::PingPong,
        Transport::Memcpy,
        Transport::RingRtt,
        Transport::RingCopy,
        Transport::RingCopyW91,
        Transport::Npipe(Quota::B512),
        Transport::Npipe(Quota::K4),
        Transport::Npipe(Quota::K64),
        Transport::Npipe(Quota::K256),
        Transport::Npipe(Quota::M4),
        Transport::NpipeNb,
        Transport::NpipeTokio,
        Transport::NpipeCapi,
        Transport::NpipeCapiOv,
        Transport::SeqPacket,
        Transport::Stream,
        Transport::Pipe,
        Transport::Interprocess,
        Transport::IpcChannel,
    ];

    fn label(self) -> &'static str {
        match self {
            Transport::Npipe(Quota::B512) => "npipe (512 B quota)",
            Transport::Npipe(Quota::K4) => "npipe (4 KiB quota)",
            Transport::Npipe(Quota::K64) => "npipe (64 KiB quota)",
            Transport::Npipe(Quota::K256) => "npipe (256 KiB quota)",
            Transport::Npipe(Quota::M4) => "npipe (4 MiB quota)",
            Transport::NpipeNb => "npipe event loop (64 KiB)",
            Transport::NpipeTokio => "npipe tokio (64 KiB)",
            Transport::NpipeCapi => "npipe C ABI (64 KiB quota)",
            Transport::NpipeCapiOv => "npipe C ABI overlapped (64 KiB)",
            Transport::SeqPacket => "SEQPACKET socketpair",
            Transport::Stream => "STREAM socketpair",
            Transport::Pipe => "pipe(2)",
            Transport::Interprocess => "interprocess 2.4",
            Transport::IpcChannel => "ipc-channel 0.23",
            Transport::SpscRing => "floor: bare SPSC ring",
            Transport::SpscLocked => "ring floor: locked SPSC",
            Transport::PingPong => "floor: spin ping-pong",
            Transport::Memcpy => "floor: memcpy",
            Transport::RingRtt => "ring floor: bare rings",
            Transport::RingCopy => "ring floor: bare ring copy",
            Transport::RingCopyW91 => "ring floor: same, W91 64K",
        }
    }

    fn key(self) -> &'static str {
        match self {
            Transport::Npipe(Quota::B512) => "npipe-512",
            Transport::Npipe(Quota::K4) => "npipe-4k",
            Transport::Npipe(Quota::K64) => "npipe-64k",
            Transport::Npipe(Quota::K256) => "npipe-256k",
            Transport::Npipe(Quota::M4) => "npipe-4m",
            Transport::NpipeNb => "npipe-nb",
            Transport::NpipeTokio => "npipe-tokio",
            Transport::NpipeCapi => "npipe-capi",
            Transport::NpipeCapiOv => "npipe-capi-ov",
            Transport::SeqPacket => "seqpacket",
            Transport::Stream => "stream",
            Transport::Pipe => "pipe",
            Transport::Interprocess => "interprocess",
            Transport::IpcChannel => "ipc-channel",
            Transport::SpscRing => "spsc-ring",
            Transport::SpscLocked => "spsc-locked",
            Transport::PingPong => "ping-pong",
            Transport::Memcpy => "memcpy",
            Transport::RingRtt => "ring-rtt",
            Transport::RingCopy => "ring-copy",
            Transport::RingCopyW91 => "ring-copy-w91",
        }
    }

    /// The npipe quota of this row, if it is an npipe row.
    fn quota(self) -> Option<Quota> {
        match self {
            Transport::Npipe(q) => Some(q),
            Transport::NpipeNb
            | Transport::NpipeTokio
            | Transport::NpipeCapi
            | Transport::NpipeCapiOv => Some(SIDE_QUOTA),
            _ => None,
        }
    }

    fn is_floor(self) -> bool {
        matches!(
            self,
            Transport::SpscRing
                | Transport::SpscLocked
                | Transport::PingPong
                | Transport::Memcpy
                | Transport::RingRtt
                | Transport::RingCopy
                | Transport::RingCopyW91
        )
    }

    /// Whether this row takes part in scenario `sc`.
    fn applies_to(self, sc: Scenario) -> bool {
        match self {
            Transport::SpscRing | Transport::SpscLocked => sc == Scenario::Rate,
            Transport::PingPong => sc == Scenario::Rtt,
            Transport::Memcpy | Transport::RingCopy | Transport::RingCopyW91 => {
                sc.throughput_size().is_some()
            }
            Transport::RingRtt => sc == Scenario::Rtt,
            Transport::NpipeCapi => matches!(
                sc,
                Scenario::Rtt | Scenario::Rate | Scenario::Throughput1m | Scenario::Cpu
            ),
            Transport::Npipe(_) | Transport::SeqPacket | Transport::Stream => true,
            Transport::Pipe => sc != Scenario::Connect,
            Transport::Interprocess => sc != Scenario::Cpu,
            Transport::NpipeNb | Transport::IpcChannel => {
                !matches!(sc, Scenario::Connect | Scenario::Cpu)
            }
            Transport::NpipeTokio => {
                matches!(sc, Scenario::Rtt | Scenario::Rate | Scenario::Throughput1m)
            }
            Transport::NpipeCapiOv => matches!(
                sc,
                Scenario::Rtt
                    | Scenario::RttIdle
                    | Scenario::Rate
                    | Scenario::Throughput1m
                    | Scenario::Cpu
            ),
        }
    }
}

/// The hidden peer subcommand names a transport by its key.
impl ValueEnum for Transport {
    fn value_variants<'a>() -> &'a [Self] {
        &Transport::ALL
    }
    fn to_possible_value(&self) -> Option<PossibleValue> {
        Some(PossibleValue::new(self.key()))
    }
}

/// What is measured.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub(crate) enum Scenario {
    /// 64 B ping-pong with both sides busy: microseconds per round trip.
    #[value(name = "rtt64")]
    Rtt,
    /// 64 B ping-pong with a 1 ms pause between round trips, so the peer goes to sleep.
    #[value(name = "rtt64_idle")]
    RttIdle,
    /// 64 B messages one way: messages per second.
    #[value(name = "rate64")]
    Rate,
    /// One-way throughput with 4 KiB messages.
    #[value(name = "throughput_4096")]
    Throughput4k,
    /// One-way throughput with 64 KiB messages.
    #[value(name = "throughput_65536")]
    Throughput64k,
    /// One-way throughput with 1 MiB messages.
    #[value(name = "throughput_1048576")]
    Throughput1m,
    /// One-way throughput with 16 MiB messages.
    #[value(name = "throughput_16777216")]
    Throughput16m,
    /// Connection setup and teardown: connections per second.
    #[value(name = "connect")]
    Connect,
    /// 64 B written and read back on one thread, both ends in this process: nanoseconds per
    /// message, what the calls themselves cost without a second CPU or cache-line transfers.
    #[value(name = "cpu64")]
    Cpu,
}

impl Scenario {
    fn throughput_size(self) -> Option<usize> {
        match self {
            Scenario::Throughput4k => Some(4 << 10),
            Scenario::Throughput64k => Some(64 << 10),
            Scenario::Throughput1m => Some(1 << 20),
            Scenario::Throughput16m => Some(16 << 20),
            _ => None,
        }
    }

    fn label(self) -> String {
        match self {
            Scenario::Rtt => "64 B round trip, both busy".into(),
            Scenario::RttIdle => "64 B round trip, peer asleep".into(),
            Scenario::Rate => "64 B one-way rate".into(),
            Scenario::Connect => "connections per second".into(),
            Scenario::Cpu => "64 B write then read on one thread (the calls' own cost)".into(),
            sc => format!("one-way throughput, {} messages", size_label(sc.msg_size())),
        }
    }

    fn key(self) -> String {
        self.to_possible_value()
            .map(|v| v.get_name().to_owned())
            .unwrap_or_default()
    }

    fn unit(self) -> &'static str {
        match self {
            Scenario::Rtt | Scenario::RttIdle => "us",
            Scenario::Rate => "M msg/s",
            Scenario::Connect => "conn/s",
            Scenario::Cpu => "ns/msg",
            _ => "GB/s",
        }
    }

    /// Whether a smaller value is better (times) or a larger one (rates).
    fn lower_is_better(self) -> bool {
        matches!(self, Scenario::Rtt | Scenario::RttIdle | Scenario::Cpu)
    }

    fn is_round_trip(self) -> bool {
        matches!(self, Scenario::Rtt | Scenario::RttIdle)
    }

    fn msg_size(self) -> usize {
        match self {
            Scenario::Connect => 1,
            sc => sc.throughput_size().unwrap_or(64),
        }
    }

    /// Operations per repetition (scaled down by `--quick`).
    fn count(self, quick: bool) -> usize {
        let n = match self {
            Scenario::Rtt => 50_000,
            Scenario::RttIdle => 300,
            Scenario::Rate => 400_000,
            Scenario::Connect => 4_000,
            Scenario::Cpu => 1_000_000,
            // 512 MiB per repetition.
            sc => ((512usize << 20) / sc.msg_size()).max(16),
        };
        if quick {
            (n / 10).max(8)
        } else {
            n
        }
    }

    /// The floor this scenario's npipe rows are divided by.
    fn floor(self) -> Option<Transport> {
        match self {
            Scenario::Rtt => Some(Transport::PingPong),
            Scenario::Rate => Some(Transport::SpscRing),
            Scenario::RttIdle | Scenario::Connect | Scenario::Cpu => None,
            _ => Some(Transport::Memcpy),
        }
    }

    /// The ring floor this scenario's rows are also divided by: the same transfer through a
    /// bare shared-memory ring, with writes that complete as Windows' do (W91) for throughput,
    /// and with a lock per side for the rate (whose floor is a ring already: what is left
    /// between the two is what one lock per side and message costs).
    fn ring_floor(self) -> Option<Transport> {
        match self {
            Scenario::Rtt => Some(Transport::RingRtt),
            Scenario::Rate => Some(Transport::SpscLocked),
            sc if sc.throughput_size().is_some() => Some(Transport::RingCopyW91),
            _ => None,
        }
    }
}

fn size_label(s: usize) -> String {
    if s >= 1 << 20 {
        format!("{} MiB", s >> 20)
    } else if s >= 1 << 10 {
        format!("{} KiB", s >> 10)
    } else {
        format!("{s} B")
    }
}

/// The transports `--only` accepts: `npipe` stands for every npipe quota row.
const PICKS: &[&str] = &[
    "npipe",
    "npipe-512",
    "npipe-4k",
    "npipe-64k",
    "npipe-256k",
    "npipe-4m",
    "npipe-nb",
    "npipe-tokio",
    "npipe-capi",
    "npipe-capi-ov",
    "stream",
    "pipe",
    "interprocess",
    "ipc-channel",
    "seqpacket",
];

/// One `--only` item: the rows it selects.
#[derive(Debug, Clone)]
pub(crate) struct Pick(Vec<Transport>);

fn parse_pick(s: &str) -> Result<Pick, String> {
    if s == "npipe" {
        return Ok(Pick(Quota::ALL.map(Transport::Npipe).to_vec()));
    }
    match Transport::ALL.into_iter().find(|t| t.key() == s) {
        Some(t) if PICKS.contains(&s) => Ok(Pick(vec![t])),
        _ => Err(format!(
            "unknown transport (floors and SEQPACKET always run); valid: {}",
            PICKS.join(", ")
        )),
    }
}

/// `npipe bench`: options.
#[derive(Debug, Args)]
pub(crate) struct BenchArgs {
    /// A 10x shorter run with 3 repeats (as CI runs it).
    #[arg(long)]
    quick: bool,
    /// Machine-readable output on stdout instead of the table.
    #[arg(long)]
    json: bool,
    /// The fault figures of docs/RELIABILITY.md instead of the performance table.
    #[arg(long, conflicts_with_all = ["quick", "json", "only", "scenario", "repeats"])]
    pub(crate) faults: bool,
    /// Only these transports, comma-separated: npipe (every quota row), npipe-512, npipe-4k,
    /// npipe-64k, npipe-256k, npipe-4m, npipe-nb, npipe-tokio, npipe-capi, npipe-capi-ov,
    /// stream, pipe,
    /// interprocess, ipc-channel, seqpacket. Floors and SEQPACKET always run.
    #[arg(long, value_name = "TRANSPORTS", value_delimiter = ',', value_parser = parse_pick)]
    only: Vec<Pick>,
    /// Only these scenarios (comma-separated).
    #[arg(long, value_name = "SCENARIOS", value_delimiter = ',')]
    scenario: Vec<Scenario>,
    /// Repeats per cell; each cell is their median [default: 5, 3 with --quick].
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u32).range(1..=1000))]
    repeats: Option<u32>,
    /// Leave the two processes of each message row wherever the scheduler puts them. By
    /// default they are pinned to two CPUs, as the floors are, so a row does not measure
    /// where the scheduler happened to place the pair (both on one CPU is several times
    /// slower for every transport).
    #[arg(long)]
    no_pin: bool,
}

/// How every job runs.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Plan {
    quick: bool,
    reps: usize,
    /// Pin the two processes of message rows to two CPUs (see `BenchArgs::no_pin`).
    pin: bool,
}

/// Runs the table (`--faults` is dispatched by the caller).
pub(crate) fn run(args: &BenchArgs) -> io::Result<()> {
    let plan = Plan {
        quick: args.quick,
        reps: args
            .repeats
            .map_or(if args.quick { 3 } else { 5 }, |r| r as usize),
        pin: !args.no_pin,
    };
    let scenarios: Vec<Scenario> = Scenario::value_variants()
        .iter()
        .copied()
        .filter(|sc| args.scenario.is_empty() || args.scenario.contains(sc))
        .collect();
    let picked: Vec<Transport> = args.only.iter().flat_map(|p| p.0.clone()).collect();
    let transports: Vec<Transport> = Transport::ALL
        .into_iter()
        .filter(|t| {
            picked.is_empty() || picked.contains(t) || t.is_floor() || *t == Transport::SeqPacket
        })
        .collect();
    let jobs: Vec<(Scenario, Transport)> = scenarios
        .iter()
        .flat_map(|&sc| transports.iter().map(move |&t| (sc, t)))
        .filter(|&(sc, t)| t.applies_to(sc))
        .collect();
    let mut rows = Vec::with_capacity(jobs.len());
    let cpu = stats::CpuTimes::sample();
    let started = Instant::now();
    // A bar on a terminal; nothing at all in a log (no `\r` frames).
    let bar = if io::stderr().is_terminal() {
        ProgressBar::new(jobs.len() as u64)
    } else {
        ProgressBar::hidden()
    };
    bar.set_style(
        ProgressStyle::with_template("[{pos:>2}/{len}] {bar:20} {elapsed:>4} {msg}")
            .unwrap_or_else(|_| ProgressStyle::default_bar()),
    );
    for &(sc, t) in &jobs {
        bar.set_message(format!("{}: {}", sc.label(), t.label()));
        let cell = measure::measure(t, sc, plan);
        rows.push(report::Row {
            scenario: sc,
            transport: t,
            cell,
        });
        bar.inc(1);
    }
    bar.finish_and_clear();
    eprintln!(
        "{} cells, {} repeats each, in {:.1} s",
        jobs.len(),
        plan.reps,
        started.elapsed().as_secs_f64()
    );
    let report = report::Report::new(rows, scenarios, cpu.and_then(|c| c.shares_since()));
    if args.json {
        report.print_json(plan.reps);
    } else {
        report.print_table(plan.reps);
    }
    Ok(())
}
