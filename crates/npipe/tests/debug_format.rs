//! `{:?}` of the handles: one short line with the name, the state and the modes, never the
//! internals (locks, rings, descriptors of the transport).

mod util;

use npipe::{ClientOptions, Mailslot, MailslotWriter, PipeMode, ServerOptions};
use util::unique_name;

/// Longer than any line below should be, with a long name included.
const SHORT: usize = 200;

fn short(what: &str, s: &str) {
    assert!(!s.contains('\n'), "{what} spans lines: {s}");
    assert!(s.len() <= SHORT, "{what} is {} bytes: {s}", s.len());
}

#[test]
fn pipe_ends_print_one_short_line() {
    let name = unique_name("debug");
    let server = ServerOptions::new()
        .pipe_mode(PipeMode::Message)
        .create(&name)
        .unwrap();
    let s = format!("{server:?}");
    short("listening server", &s);
    assert!(s.contains(&name), "{s}");
    assert!(s.contains("listening") && s.contains("message type"), "{s}");

    let client = ClientOptions::new().open(&name).unwrap();
    server.connect().unwrap();
    let (s, c) = (format!("{server:?}"), format!("{client:?}"));
    short("connected server", &s);
    short("client", &c);
    assert!(
        s.contains("state: connected") && s.contains("message read"),
        "{s}"
    );
    // W57: the client starts in byte read mode.
    assert!(c.contains(&name) && c.contains("state: connected"), "{c}");
    assert!(c.contains("byte read"), "{c}");

    drop(client);
    assert!(
        format!("{server:?}").contains("state: closing"),
        "{server:?}"
    );
    server.disconnect().unwrap();
    assert!(format!("{server:?}").contains("state: disconnected"));
    server.close();
    assert!(format!("{server:?}").contains("state: closed"));
}

#[test]
fn mailslots_events_and_anonymous_pipes_print_one_short_line() {
    let name = format!(
        r"\\.\mailslot\{}",
        unique_name("debug").rsplit('\\').next().unwrap()
    );
    let slot = Mailslot::create(&name).unwrap();
    let writer = MailslotWriter::open(&name).unwrap();
    for s in [format!("{slot:?}"), format!("{writer:?}")] {
        short("mailslot", &s);
        assert!(s.contains(&name), "{s}");
    }
    let ev =
        npipe::NamedEvent::create(&unique_name("debug").replace('\\', "_"), true, false).unwrap();
    for s in [
        format!("{ev:?}"),
        format!("{:?}", npipe::Event::new(true, true)),
    ] {
        short("event", &s);
        assert!(s.contains("manual_reset: true"), "{s}");
    }
    let (r, w) = npipe::create_pipe(0).unwrap();
    for s in [format!("{r:?}"), format!("{w:?}")] {
        short("anonymous pipe", &s);
        assert!(s.contains("size: 4096"), "{s}");
    }
}
