//! `npipe list`: the pipes and mailslots the caller can see (`npipe::list`), as a table for
//! people or as JSON for programs. The JSON shape is the stable one docs/CLI.md documents.

use std::io::{self, Write};

use clap::Args;
use serde::Serialize;

use crate::fail::{Context, Outcome};
use npipe::{Direction, Listing, ListingKind, PipeMode};

/// `npipe list`: options.
#[derive(Debug, Args)]
pub(crate) struct ListArgs {
    /// Print JSON (format documented in docs/CLI.md) instead of a table.
    #[arg(long)]
    json: bool,
}

/// Version of the JSON document; bumped only for changes that break readers.
const JSON_FORMAT: u32 = 1;

/// The JSON document.
#[derive(Debug, Serialize)]
struct Document<'a> {
    format: u32,
    objects: Vec<Object<'a>>,
}

/// One pipe or mailslot in the JSON document.
#[derive(Debug, Serialize)]
struct Object<'a> {
    kind: &'static str,
    name: &'a str,
    leaf: &'a str,
    #[serde(rename = "type")]
    pipe_type: &'static str,
    direction: &'static str,
    instances: u32,
    listening: u32,
    max_instances: u32,
    out_buffer_size: u32,
    in_buffer_size: u32,
    owner_uid: u32,
    server_pid: Option<u32>,
}

fn kind(l: &Listing) -> &'static str {
    match l.kind {
        ListingKind::Mailslot => "mailslot",
        _ => "pipe",
    }
}

fn pipe_type(l: &Listing) -> &'static str {
    match l.pipe_mode {
        PipeMode::Message => "message",
        PipeMode::Byte => "byte",
        // `PipeMode` is not exhaustive; a type added later is named when this learns it.
        _ => "other",
    }
}

fn direction(l: &Listing) -> &'static str {
    match l.direction {
        Direction::Inbound => "inbound",
        Direction::Outbound => "outbound",
        Direction::Duplex => "duplex",
    }
}

fn object(l: &Listing) -> Object<'_> {
    Object {
        kind: kind(l),
        name: &l.name,
        leaf: &l.leaf,
        pipe_type: pipe_type(l),
        direction: direction(l),
        instances: l.instances,
        listening: l.listening,
        max_instances: l.max_instances,
        out_buffer_size: l.out_buffer_size,
        in_buffer_size: l.in_buffer_size,
        owner_uid: l.owner_uid,
        server_pid: l.server_pid,
    }
}

/// The JSON document for `found`.
fn json(found: &[Listing]) -> String {
    let doc = Document {
        format: JSON_FORMAT,
        objects: found.iter().map(object).collect(),
    };
    serde_json::to_string_pretty(&doc).expect("plain data serialises")
}

/// `name` with control characters escaped (`\n`, `\u{1b}`), so each object stays one row.
fn printable(name: &str) -> String {
    name.chars()
        .map(|c| {
            if c.is_control() {
                c.escape_default().to_string()
            } else {
                c.to_string()
            }
        })
        .collect()
}

/// The human table for `found`: one row per object, the name last (it may hold spaces).
fn table(found: &[Listing]) -> String {
    let mut s = format!(
        "{:<8} {:<7} {:<8} {:>4} {:>9} {:>6} {:>7}  NAME\n",
        "KIND", "TYPE", "DIR", "FREE", "INST/MAX", "UID", "PID"
    );
    for l in found {
        let max = if l.max_instances == 255 {
            "unl".to_owned()
        } else {
            l.max_instances.to_string()
        };
        let pid = l.server_pid.map_or("-".to_owned(), |p| p.to_string());
        s += &format!(
            "{:<8} {:<7} {:<8} {:>4} {:>9} {:>6} {:>7}  {}\n",
            kind(l),
            pipe_type(l),
            direction(l),
            l.listening,
            format!("{}/{max}", l.instances),
            l.owner_uid,
            pid,
            printable(&l.name)
        );
    }
    s
}

/// Runs `npipe list`.
pub(crate) fn run(args: &ListArgs) -> Outcome {
    let found = npipe::list().on("list")?;
    let text = if args.json {
        json(&found) + "\n"
    } else {
        table(&found)
    };
    let mut out = io::stdout().lock();
    match out.write_all(text.as_bytes()).and_then(|()| out.flush()) {
        // A reader that stopped early (`| head`) is not a failure.
        Err(e) if e.kind() == io::ErrorKind::BrokenPipe => Ok(()),
        r => r.on("stdout"),
    }
}
