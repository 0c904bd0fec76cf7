//! Events: process-local [`Event`] and [`NamedEvent`] shared across real processes (this test
//! binary re-run as the other party), with Windows' semantics: one state for every process,
//! auto-reset events releasing exactly one waiter anywhere, PulseEvent and SetEvent releasing
//! the waiters of the moment, wait-all across local and shared events, the name's lifetime,
//! Windows' name rules and error codes, and hostile peers that scribble on the shared page.

mod util;

use std::io;
use std::os::fd::AsFd;
use std::process::Child;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use npipe::{wait_for_multiple, win32_code, Event, NamedEvent, WaitObject, WaitOutcome};

/// An event name no other test (or run) uses.
fn ev_name(tag: &str) -> String {
    static N: AtomicUsize = AtomicUsize::new(0);
    format!(
        "npipe-test-ev-{tag}-{}-{}",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed)
    )
}

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

/// Whether `fd` polls readable now.
fn readable(fd: std::os::fd::BorrowedFd<'_>) -> bool {
    use std::os::fd::AsRawFd;
    let mut p = libc::pollfd {
        fd: fd.as_raw_fd(),
        events: libc::POLLIN,
        revents: 0,
    };
    // SAFETY: one valid pollfd, no timeout.
    unsafe { libc::poll(&mut p, 1, 0) == 1 && p.revents & libc::POLLIN != 0 }
}

/// Waits for a child and returns its exit code; a child still running after
/// `util::CHILD_LIMIT` is killed and the test fails.
#[track_caller]
fn code(mut c: Child) -> i32 {
    match util::wait_child(&mut c, util::CHILD_LIMIT) {
        Ok(st) => st.code().unwrap_or(-1),
        Err(e) => panic!("{e}"),
    }
}

/// Whether the child has exited by now, and with which code.
fn exited(c: &mut Child) -> Option<i32> {
    c.try_wait()
        .expect("try_wait")
        .map(|s| s.code().unwrap_or(-1))
}

fn e2s(e: io::Error) -> String {
    format!("{e} (code {})", win32_code(&e))
}

/// Sets `ready` (a manual event named by the parent) then waits up to `ms` on `name`: exit 0
/// when it got it, 3 when the time ran out.
fn role_wait(arg: &str) -> Result<(), String> {
    let mut it = arg.split('|');
    let (name, ready, ms) = (it.next().unwrap(), it.next().unwrap(), it.next().unwrap());
    let ev = NamedEvent::open(name).map_err(e2s)?;
    NamedEvent::open(ready).map_err(e2s)?.set().map_err(e2s)?;
    let got = ev
        .wait_timeout(Duration::from_millis(ms.parse().unwrap()))
        .map_err(e2s)?;
    if !got {
        std::process::exit(3);
    }
    Ok(())
}

/// Opens `name` and sets it.
fn role_set(name: &str) -> Result<(), String> {
    NamedEvent::open(name).map_err(e2s)?.set().map_err(e2s)
}

/// Opens `name`, sets `ready`, holds the event until `go` is set, then waits on it for 5 s.
fn role_hold(arg: &str) -> Result<(), String> {
    let mut it = arg.split('|');
    let (name, ready, go) = (it.next().unwrap(), it.next().unwrap(), it.next().unwrap());
    let ev = NamedEvent::open(name).map_err(e2s)?;
    let go = NamedEvent::open(go).map_err(e2s)?;
    NamedEvent::open(ready).map_err(e2s)?.set().map_err(e2s)?;
    if !go.wait_timeout(ms(10_000)).map_err(e2s)? {
        return Err("no go".into());
    }
    if !ev.wait_timeout(ms(5_000)).map_err(e2s)? {
        return Err("the event was never set".into());
    }
    Ok(())
}

/// Creates `name` (auto reset, set), sets `ready`, and waits for `go` before exiting.
fn role_create(arg: &str) -> Result<(), String> {
    let mut it = arg.split('|');
    let (name, ready, go) = (it.next().unwrap(), it.next().unwrap(), it.next().unwrap());
    let ev = NamedEvent::create(name, false, true).map_err(e2s)?;
    if ev.already_existed() {
        return Err("the name already existed".into());
    }
    let go = NamedEvent::create(go, true, false).map_err(e2s)?;
    NamedEvent::open(ready).map_err(e2s)?.set().map_err(e2s)?;
    if !go.wait_timeout(ms(10_000)).map_err(e2s)? {
        return Err("no go".into());
    }
    Ok(())
}

/// Checks `npipe_wait_fd`-style readiness in another process: waits until the event's
/// descriptor polls readable (the parent sets it), then checks that polling took nothing.
fn role_poll(arg: &str) -> Result<(), String> {
    let mut it = arg.split('|');
    let (name, ready) = (it.next().unwrap(), it.next().unwrap());
    let ev = NamedEvent::open(name).map_err(e2s)?;
    if readable(ev.as_fd()) {
        return Err("readable before the set".into());
    }
    NamedEvent::open(ready).map_err(e2s)?.set().map_err(e2s)?;
    if !util::eventually(ms(5_000), || readable(ev.as_fd())) {
        return Err("never readable".into());
    }
    if !ev.is_set().map_err(e2s)? || !readable(ev.as_fd()) {
        return Err("polling consumed the state".into());
    }
    if !ev.try_wait().map_err(e2s)? || readable(ev.as_fd()) {
        return Err("taking an auto event must make it unreadable".into());
    }
    Ok(())
}

child_roles! {
    "wait" => role_wait,
    "set" => role_set,
    "hold" => role_hold,
    "create" => role_create,
    "poll" => role_poll,
}

// ---- process-local events -----------------------------------------------------------------

#[test]
fn local_manual_and_auto_reset() -> io::Result<()> {
    let m = Event::new(true, false);
    let a = Event::new(false, false);
    assert!(!m.try_wait() && !a.try_wait());
    m.set();
    a.set();
    assert!(
        m.try_wait() && m.try_wait() && m.is_set(),
        "manual stays set"
    );
    assert!(a.try_wait() && !a.try_wait(), "auto is taken once");
    m.reset();
    assert!(!m.wait_timeout(ms(30))?);
    assert!(Event::new(false, true).try_wait());
    assert!(!a.is_manual_reset() && m.is_manual_reset());
    Ok(())
}

/// Starts `n` threads that each wait up to `limit` on `wait` and count their successes.
fn waiters(
    n: usize,
    limit: Duration,
    wait: impl Fn() -> io::Result<bool> + Send + Sync + 'static,
) -> (Arc<AtomicUsize>, Vec<std::thread::JoinHandle<()>>) {
    let woken = Arc::new(AtomicUsize::new(0));
    let wait = Arc::new(wait);
    let ts = (0..n)
        .map(|_| {
            let (woken, wait) = (woken.clone(), wait.clone());
            std::thread::spawn(move || {
                let _ = limit;
                if wait().expect("wait") {
                    woken.fetch_add(1, Ordering::SeqCst);
                }
            })
        })
        .collect();
    (woken, ts)
}

#[test]
fn pulse_releases_exactly_the_waiters_of_the_moment() {
    for round in 0..5 {
        // Manual: every waiter of the moment, even though the event is reset at once.
        let m = Event::new(true, false);
        let mc = m.clone();
        let (woken, ts) = waiters(3, ms(3_000), move || mc.wait_timeout(ms(3_000)));
        std::thread::sleep(ms(100));
        m.pulse();
        assert!(!m.is_set(), "left reset");
        // A waiter that starts after the pulse is not released by it.
        assert!(!m.wait_timeout(ms(50)).unwrap(), "a later waiter missed it");
        ts.into_iter().for_each(|t| t.join().unwrap());
        assert_eq!(
            woken.load(Ordering::SeqCst),
            3,
            "round {round}: manual pulse"
        );

        // Auto: exactly one of the waiters.
        let a = Event::new(false, false);
        let ac = a.clone();
        let (woken, ts) = waiters(3, ms(400), move || ac.wait_timeout(ms(400)));
        std::thread::sleep(ms(100));
        a.pulse();
        ts.into_iter().for_each(|t| t.join().unwrap());
        assert_eq!(woken.load(Ordering::SeqCst), 1, "round {round}: auto pulse");
        assert!(!a.is_set());
    }
}

#[test]
fn set_then_reset_still_releases_manual_waiters() {
    let m = Event::new(true, false);
    let mc = m.clone();
    let (woken, ts) = waiters(2, ms(3_000), move || mc.wait_timeout(ms(3_000)));
    std::thread::sleep(ms(100));
    m.set();
    m.reset();
    ts.into_iter().for_each(|t| t.join().unwrap());
    assert_eq!(woken.load(Ordering::SeqCst), 2);
}

/// A process-local event that nothing watches is set and reset without its lock, with one
/// compare-exchange (`Local::word`); a wait that is being set up meanwhile (its look, its
/// registration, its sleep) must still be released. Two threads hand a turn back and forth
/// through two events, so every set races with the other thread's wait on it; a lost release
/// leaves that wait to time out, and the test fails instead of hanging.
#[test]
fn sets_racing_with_waits_being_set_up_are_never_lost() {
    const ROUNDS: usize = 20_000;
    for manual in [false, true] {
        let (ping, pong) = (Event::new(manual, false), Event::new(manual, false));
        let (p, q) = (ping.clone(), pong.clone());
        let t = std::thread::spawn(move || {
            for round in 0..ROUNDS {
                assert!(
                    p.wait_timeout(ms(10_000)).expect("wait"),
                    "manual {manual}: round {round}: ping's set was lost"
                );
                if manual {
                    p.reset();
                }
                q.set();
            }
        });
        for round in 0..ROUNDS {
            ping.set();
            assert!(
                pong.wait_timeout(ms(10_000)).expect("wait"),
                "manual {manual}: round {round}: pong's set was lost"
            );
            if manual {
                pong.reset();
            }
        }
        t.join().unwrap();
        assert!(!ping.is_set() && !pong.is_set(), "every set was taken");
    }
}

#[test]
fn an_auto_set_belongs_to_the_waiter_not_a_late_comer() {
    let a = Event::new(false, false);
    let ac = a.clone();
    let (woken, ts) = waiters(1, ms(3_000), move || ac.wait_timeout(ms(3_000)));
    std::thread::sleep(ms(100));
    a.set();
    // On Windows the waiter was released by the set: the event stays reset.
    assert!(!a.try_wait(), "the release went to the waiter");
    ts.into_iter().for_each(|t| t.join().unwrap());
    assert_eq!(woken.load(Ordering::SeqCst), 1);
    // Two sets with one waiter: one release, then the event stays set.
    let ac = a.clone();
    let (woken, ts) = waiters(1, ms(3_000), move || ac.wait_timeout(ms(3_000)));
    std::thread::sleep(ms(100));
    a.set();
    a.set();
    ts.into_iter().for_each(|t| t.join().unwrap());
    assert_eq!(woken.load(Ordering::SeqCst), 1);
    assert!(a.try_wait(), "the second set found nobody waiting");
}

#[test]
fn wait_any_hands_back_a_release_it_did_not_use() {
    // A thread waits for any of (x, y); both are set for it "at once": it takes one, and the
    // other's SetEvent is not lost (it stays set for the next waiter).
    let x = Event::new(false, false);
    let y = Event::new(false, false);
    let (xc, yc) = (x.clone(), y.clone());
    let t = std::thread::spawn(move || {
        wait_for_multiple(&[(&xc).into(), (&yc).into()], false, None, None).unwrap()
    });
    std::thread::sleep(ms(100));
    x.set();
    y.set();
    let got = t.join().unwrap();
    assert!(matches!(got, WaitOutcome::Object(0 | 1)));
    let other = if got == WaitOutcome::Object(0) {
        &y
    } else {
        &x
    };
    assert!(other.try_wait(), "the unused SetEvent stayed");
}

/// Wait-any returns the lowest index that is set, and takes only that object: with a few
/// objects and up to 64 (kept on the stack in arrays of 4 or 64: each side of both bounds)
/// and with more than 64 (the Rust API has no such limit), local
/// events behind a set named one, and a set auto-reset event found without a sleep.
#[test]
fn wait_any_takes_the_lowest_set_object_only() -> io::Result<()> {
    let soon = || Some(Instant::now() + ms(20));
    for n in [2usize, 3, 4, 10, 63, 64, 70] {
        let locals: Vec<Event> = (0..n).map(|_| Event::new(false, false)).collect();
        let named = NamedEvent::create(&ev_name("lowest"), false, false)?;
        let mut objs: Vec<WaitObject<'_>> = vec![(&named).into()];
        objs.extend(locals.iter().map(WaitObject::from));
        assert_eq!(
            wait_for_multiple(&objs, false, soon(), None)?,
            WaitOutcome::TimedOut,
            "{n}: nothing set"
        );
        locals[n - 1].set();
        locals[n - 2].set();
        named.set()?;
        assert_eq!(
            wait_for_multiple(&objs, false, soon(), None)?,
            WaitOutcome::Object(0),
            "{n}: the named event comes first"
        );
        assert!(!named.is_set()? && locals[n - 2].is_set() && locals[n - 1].is_set());
        assert_eq!(
            wait_for_multiple(&objs, false, soon(), None)?,
            WaitOutcome::Object(n - 1),
            "{n}: then the lower local"
        );
        assert!(!locals[n - 2].is_set() && locals[n - 1].is_set());
        assert_eq!(
            wait_for_multiple(&objs[1..], false, soon(), None)?,
            WaitOutcome::Object(n - 1),
            "{n}: locals only"
        );
        assert_eq!(
            wait_for_multiple(&objs, false, soon(), None)?,
            WaitOutcome::TimedOut,
            "{n}: each auto-reset event was taken once"
        );
    }
    Ok(())
}

#[test]
fn wait_all_is_all_or_nothing_and_rejects_duplicates() -> io::Result<()> {
    let a = Event::new(false, true);
    let m = Event::new(true, false);
    let soon = || Some(Instant::now() + ms(20));
    let objs: [WaitObject<'_>; 2] = [(&a).into(), (&m).into()];
    assert_eq!(
        wait_for_multiple(&objs, true, soon(), None)?,
        WaitOutcome::TimedOut
    );
    assert!(a.is_set(), "a failed wait-all consumed nothing");
    m.set();
    assert_eq!(
        wait_for_multiple(&objs, true, soon(), None)?,
        WaitOutcome::Object(0)
    );
    assert!(!a.is_set() && m.is_set());
    let e = wait_for_multiple(&[(&a).into(), (&a).into()], true, soon(), None).unwrap_err();
    assert_eq!(win32_code(&e), 87, "wait-all on one event twice");
    // Wait-any may name an object twice.
    a.set();
    assert_eq!(
        wait_for_multiple(&[(&a).into(), (&a).into()], false, soon(), None)?,
        WaitOutcome::Object(0)
    );
    Ok(())
}

#[test]
fn a_local_state_descriptor_shows_changes_made_while_nobody_polled_it() -> io::Result<()> {
    // Sets and resets while nobody polls leave the eventfd alone (an overlapped call resets its
    // event and sets it again every time): whoever polls it next must still see the state.
    for manual in [true, false] {
        let ev = Event::new(manual, false);
        // A wait that sleeps makes the descriptor.
        assert!(!ev.wait_timeout(ms(5))?);
        for _ in 0..3 {
            ev.set();
            ev.reset();
        }
        ev.set();
        // A wait-all sleeps on the state descriptors of the events not set: here `other`'s
        // (auto reset, which a wait-all does not register with: its state descriptor is all
        // that wakes it), which lagged behind its sets and resets; its set must wake the wait.
        let other = Event::new(false, false);
        assert!(!other.wait_timeout(ms(5))?);
        other.set();
        assert!(other.try_wait());
        let (tx, rx) = std::sync::mpsc::channel();
        {
            let (ev, other) = (ev.clone(), other.clone());
            std::thread::spawn(move || {
                let _ = tx.send(wait_for_multiple(
                    &[(&ev).into(), (&other).into()],
                    true,
                    None,
                    None,
                ));
            });
        }
        std::thread::sleep(ms(20));
        other.set();
        // A lost wake-up would leave the wait asleep for good.
        let got = rx
            .recv_timeout(Duration::from_secs(30))
            .expect("the set woke the wait-all");
        assert_eq!(got?, WaitOutcome::Object(0));
        assert!(!other.is_set(), "the wait took the auto-reset event");
        // Handed out, the descriptor is exact from then on.
        ev.set();
        ev.reset();
        ev.set();
        let fd = ev.wait_fd()?;
        assert!(readable(fd), "set: readable");
        ev.reset();
        assert!(!readable(fd), "reset: not readable");
        ev.set();
        assert!(readable(fd), "set again: readable");
    }
    Ok(())
}

#[test]
fn objects_win_over_the_alert() -> io::Result<()> {
    let alert = Event::new(true, true);
    let ev = Event::new(true, true);
    let fd = alert.wait_fd()?;
    assert_eq!(
        wait_for_multiple(&[(&ev).into()], false, Some(Instant::now()), Some(fd))?,
        WaitOutcome::Object(0)
    );
    ev.reset();
    assert_eq!(
        wait_for_multiple(&[(&ev).into()], false, Some(Instant::now()), Some(fd))?,
        WaitOutcome::Alerted
    );
    alert.reset();
    assert_eq!(
        wait_for_multiple(&[(&ev).into()], false, Some(Instant::now()), Some(fd))?,
        WaitOutcome::TimedOut
    );
    Ok(())
}

// ---- names ---------------------------------------------------------------------------------

#[test]
fn create_existing_keeps_mode_and_state() -> io::Result<()> {
    let name = ev_name("exists");
    let a = NamedEvent::create(&name, true, false)?;
    assert!(!a.already_existed());
    let b = NamedEvent::create(&name, false, true)?;
    assert!(
        b.already_existed() && b.is_manual_reset(),
        "the first's mode"
    );
    assert!(!b.is_set()?, "the first's state");
    let c = NamedEvent::open(&name)?;
    c.set()?;
    assert!(a.try_wait()? && a.try_wait()?, "one state, manual reset");
    assert_eq!(a.name(), name);
    Ok(())
}

#[test]
fn names_follow_the_object_namespace() -> io::Result<()> {
    let name = ev_name("Case");
    let _a = NamedEvent::create(&name, true, false)?;
    let upper = name.to_uppercase();
    let e = NamedEvent::open(&upper).unwrap_err();
    assert_eq!(win32_code(&e), 2, "event names are case-sensitive");
    assert!(!NamedEvent::create(&upper, true, false)?.already_existed());
    assert!(NamedEvent::open(&format!(r"Local\{name}"))?.already_existed());
    assert_eq!(
        win32_code(&NamedEvent::open(&format!(r"Global\{name}")).unwrap_err()),
        2
    );
    let g = NamedEvent::create(&format!(r"Global\{name}"), true, false)?;
    assert!(!g.already_existed(), r"Global\ is its own set of names");
    for (bad, code) in [
        (format!(r"LOCAL\{name}"), 3),
        (format!(r"dir\{name}"), 3),
        (r"Local\".to_owned(), 123),
        (r"\x".to_owned(), 161),
        ("Global".to_owned(), 6),
        ("x".repeat(260), 206),
        (String::new(), 123),
    ] {
        let e = NamedEvent::create(&bad, true, false).unwrap_err();
        assert_eq!(win32_code(&e), code, "create {bad:?}");
        let e = NamedEvent::open(&bad).unwrap_err();
        assert_eq!(win32_code(&e), code, "open {bad:?}");
    }
    let long = format!("{}{}", name, "x".repeat(259 - name.len()));
    let l = NamedEvent::create(&long, true, false)?;
    assert!(!l.already_existed());
    assert!(NamedEvent::open(&long).is_ok());
    Ok(())
}

#[test]
fn the_name_goes_with_the_last_handle_of_the_only_process() {
    let name = ev_name("gone");
    let a = NamedEvent::create(&name, true, false).unwrap();
    let b = a.clone();
    drop(a);
    assert!(NamedEvent::open(&name).is_ok(), "a clone keeps it");
    drop(b);
    let e = NamedEvent::open(&name).unwrap_err();
    assert_eq!(win32_code(&e), 2);
    let c = NamedEvent::create(&name, true, false).unwrap();
    assert!(!c.already_existed(), "created anew");
}

// ---- across processes -------------------------------------------------------------------------

#[test]
fn a_set_in_another_process_wakes_a_waiter_here() {
    let name = ev_name("xset");
    let ev = NamedEvent::create(&name, false, false).unwrap();
    let t0 = Instant::now();
    let c = util::child("set", &name);
    assert!(
        ev.wait_timeout(ms(10_000)).unwrap(),
        "woken by the child's SetEvent"
    );
    assert!(t0.elapsed() < ms(10_000));
    assert_eq!(code(c), 0);
    assert!(
        !ev.try_wait().unwrap(),
        "the auto event was consumed by the wait"
    );
}

#[test]
fn an_auto_set_releases_exactly_one_waiter_across_processes() {
    let name = ev_name("xauto");
    let ev = NamedEvent::create(&name, false, false).unwrap();
    let mut kids = Vec::new();
    for k in 0..3 {
        let ready = format!("{name}-ready{k}");
        let r = NamedEvent::create(&ready, true, false).unwrap();
        kids.push((util::child("wait", &format!("{name}|{ready}|4000")), r));
    }
    for (_, r) in &kids {
        assert!(r.wait_timeout(ms(10_000)).unwrap(), "child ready");
    }
    std::thread::sleep(ms(300)); // they are in their waits
    ev.set().unwrap();
    std::thread::sleep(ms(500));
    let done = kids
        .iter_mut()
        .filter_map(|(c, _)| exited(c))
        .filter(|&st| st == 0)
        .count();
    assert_eq!(done, 1, "one SetEvent released exactly one process");
    assert!(!ev.try_wait().unwrap(), "and the event stayed reset");
    ev.set().unwrap();
    ev.set().unwrap();
    let codes: Vec<i32> = kids.into_iter().map(|(c, _)| code(c)).collect();
    assert_eq!(
        codes,
        vec![0, 0, 0],
        "the two later sets released the other two"
    );
}

#[test]
fn a_manual_pulse_releases_waiters_in_every_process_and_leaves_it_reset() {
    let name = ev_name("xpulse");
    let ev = NamedEvent::create(&name, true, false).unwrap();
    let mut kids = Vec::new();
    for k in 0..2 {
        let ready = format!("{name}-ready{k}");
        let r = NamedEvent::create(&ready, true, false).unwrap();
        kids.push((util::child("wait", &format!("{name}|{ready}|5000")), r));
    }
    for (_, r) in &kids {
        assert!(r.wait_timeout(ms(10_000)).unwrap());
    }
    std::thread::sleep(ms(300));
    ev.pulse().unwrap();
    assert!(!ev.is_set().unwrap(), "left reset");
    let codes: Vec<i32> = kids.into_iter().map(|(c, _)| code(c)).collect();
    assert_eq!(codes, vec![0, 0], "both processes' waiters were released");
}

#[test]
fn an_auto_pulse_releases_one_process() {
    let name = ev_name("xapulse");
    let ev = NamedEvent::create(&name, false, false).unwrap();
    let mut kids = Vec::new();
    for k in 0..2 {
        let ready = format!("{name}-ready{k}");
        let r = NamedEvent::create(&ready, true, false).unwrap();
        kids.push((util::child("wait", &format!("{name}|{ready}|1500")), r));
    }
    for (_, r) in &kids {
        assert!(r.wait_timeout(ms(10_000)).unwrap());
    }
    std::thread::sleep(ms(300));
    ev.pulse().unwrap();
    let mut codes: Vec<i32> = kids.into_iter().map(|(c, _)| code(c)).collect();
    codes.sort();
    assert_eq!(codes, vec![0, 3], "one released, the other timed out");
    assert!(!ev.is_set().unwrap());
}

#[test]
fn wait_all_mixing_local_and_shared_events() {
    let name = ev_name("xall");
    let shared = NamedEvent::create(&name, false, false).unwrap();
    let local = Event::new(false, false);
    let objs: [WaitObject<'_>; 2] = [(&local).into(), (&shared).into()];
    local.set();
    assert_eq!(
        wait_for_multiple(&objs, true, Some(Instant::now() + ms(50)), None).unwrap(),
        WaitOutcome::TimedOut
    );
    assert!(local.is_set(), "nothing taken");
    let c = util::child("set", &name);
    assert_eq!(
        wait_for_multiple(&objs, true, Some(Instant::now() + ms(10_000)), None).unwrap(),
        WaitOutcome::Object(0)
    );
    assert_eq!(code(c), 0);
    assert!(
        !local.is_set() && !shared.is_set().unwrap(),
        "both auto events taken at once"
    );
    // The same named event through two handles is one object.
    let again = NamedEvent::open(&name).unwrap();
    let e = wait_for_multiple(&[(&shared).into(), (&again).into()], true, None, None).unwrap_err();
    assert_eq!(win32_code(&e), 87);
}

#[test]
fn the_state_descriptor_polls_readable_in_every_process() {
    let name = ev_name("xpoll");
    let ready = format!("{name}-ready");
    let ev = NamedEvent::create(&name, false, false).unwrap();
    let r = NamedEvent::create(&ready, true, false).unwrap();
    let c = util::child("poll", &format!("{name}|{ready}"));
    assert!(r.wait_timeout(ms(10_000)).unwrap());
    assert!(!readable(ev.as_fd()));
    ev.set().unwrap();
    assert!(readable(ev.as_fd()));
    assert_eq!(code(c), 0, "the child saw it readable, then took it");
    assert!(!readable(ev.as_fd()) && !ev.is_set().unwrap());
}

#[test]
fn the_name_stays_while_another_process_holds_it() {
    let name = ev_name("xkeep");
    let (ready, go) = (format!("{name}-ready"), format!("{name}-go"));
    let ev = NamedEvent::create(&name, true, false).unwrap();
    let r = NamedEvent::create(&ready, true, false).unwrap();
    let g = NamedEvent::create(&go, true, false).unwrap();
    let holder = util::child("hold", &format!("{name}|{ready}|{go}"));
    assert!(r.wait_timeout(ms(10_000)).unwrap());
    drop(ev); // the creator's last handle
              // Another process (and this one) can still open the name: the holder keeps it.
    let c = util::child("set", &name);
    assert_eq!(
        code(c),
        0,
        "opened and set by name after the creator closed"
    );
    let again = NamedEvent::open(&name).unwrap();
    assert!(again.is_set().unwrap(), "the same event, its state kept");
    drop(again);
    g.set().unwrap();
    assert_eq!(code(holder), 0, "the holder saw the set");
    // Nobody holds it any more: the name goes.
    assert!(
        util::eventually(ms(5_000), || NamedEvent::open(&name)
            .is_err_and(|e| win32_code(&e) == 2)),
        "the name should be gone"
    );
    // Gone for good: the service stopped (on its own acceptor thread, when the holder hung
    // up), so the name is free to be made anew, here or anywhere.
    let fresh = NamedEvent::create(&name, false, false).unwrap();
    assert!(!fresh.already_existed(), "a new event of that name");
}

#[test]
fn handles_survive_the_creating_process() {
    let name = ev_name("xdie");
    let (ready, go) = (format!("{name}-ready"), format!("{name}-go"));
    let r = NamedEvent::create(&ready, true, false).unwrap();
    let creator = util::child("create", &format!("{name}|{ready}|{go}"));
    assert!(r.wait_timeout(ms(10_000)).unwrap());
    let ev = NamedEvent::open(&name).unwrap();
    assert!(ev.already_existed() && !ev.is_manual_reset());
    NamedEvent::open(&go).unwrap().set().unwrap();
    assert_eq!(code(creator), 0);
    // The state lives on in this process: the creator made it set.
    assert!(ev.try_wait().unwrap(), "the state the creator left");
    ev.set().unwrap();
    assert!(ev.wait_timeout(ms(100)).unwrap());
    // This process, which holds a handle, still finds its event by name.
    NamedEvent::open(&name).unwrap().set().unwrap();
    assert!(ev.try_wait().unwrap(), "the same event");
    // Departure: for other processes the name does not outlive the creating process.
    let c = util::child("set", &name);
    assert_eq!(code(c), 1, "another process cannot open it any more");
}

#[test]
fn a_killed_waiter_does_not_swallow_a_set() {
    let name = ev_name("xkill");
    let ready = format!("{name}-ready");
    let ev = NamedEvent::create(&name, false, false).unwrap();
    let r = NamedEvent::create(&ready, true, false).unwrap();
    let mut c = util::child("wait", &format!("{name}|{ready}|60000"));
    assert!(r.wait_timeout(ms(10_000)).unwrap());
    std::thread::sleep(ms(300));
    c.kill().unwrap();
    c.wait().unwrap();
    // Its slot's owner is gone: the set finds nobody to release and leaves the event set.
    ev.set().unwrap();
    assert!(
        ev.try_wait().unwrap(),
        "the set was not given to the dead process"
    );
    // A pulse with only a dead waiter leaves no window open for ever.
    ev.pulse().unwrap();
    assert!(!ev.wait_timeout(ms(50)).unwrap());
}

#[test]
fn a_forked_child_uses_the_event() -> io::Result<()> {
    let name = ev_name("fork");
    let ev = NamedEvent::create(&name, false, false)?;
    let waiter = {
        let ev = ev.clone();
        std::thread::spawn(move || ev.wait_timeout(ms(10_000)))
    };
    std::thread::sleep(ms(50));
    // SAFETY: the child only uses the library and leaves with _exit.
    let pid = unsafe { libc::fork() };
    assert!(pid >= 0);
    if pid == 0 {
        let ok = NamedEvent::open(&name).and_then(|e| e.set()).is_ok() && ev.set().is_ok();
        // SAFETY: leaving the child without running the parent's destructors.
        unsafe { libc::_exit(if ok { 0 } else { 1 }) };
    }
    let st = util::wait_forked(pid);
    assert!(util::forked_ok(st), "child status {st:?}");
    assert!(
        waiter.join().unwrap()?,
        "the child's set released the parent's waiter"
    );
    assert!(ev.try_wait()?, "its second set stayed");
    Ok(())
}

#[test]
fn a_forked_child_starts_local_events_afresh() {
    // A parent thread waits on a local auto-reset event when the process forks. In the child
    // that thread does not exist: a SetEvent there must not be handed to it, and must not
    // touch the descriptor the parent's waiter polls.
    let ev = Event::new(false, false);
    let ec = ev.clone();
    let woken = Arc::new(AtomicUsize::new(0));
    let w = woken.clone();
    let t = std::thread::spawn(move || {
        if ec.wait_timeout(ms(10_000)).unwrap() {
            w.fetch_add(1, Ordering::SeqCst);
        }
    });
    std::thread::sleep(ms(100));
    // SAFETY: the child only uses the library and leaves with _exit.
    let pid = unsafe { libc::fork() };
    assert!(pid >= 0);
    if pid == 0 {
        ev.set();
        let ok = ev.try_wait() && !ev.try_wait();
        let fd_ok = ev.wait_fd().is_ok_and(|fd| {
            ev.set();
            readable(fd)
        });
        // SAFETY: leaving the child without running the parent's destructors.
        unsafe { libc::_exit(if ok && fd_ok { 0 } else { 1 }) };
    }
    let st = util::wait_forked(pid);
    assert!(util::forked_ok(st), "child status {st:?}");
    std::thread::sleep(ms(100));
    assert_eq!(
        woken.load(Ordering::SeqCst),
        0,
        "the child's sets did not reach the parent"
    );
    ev.set();
    t.join().unwrap();
    assert_eq!(woken.load(Ordering::SeqCst), 1);
    assert!(!ev.try_wait(), "the set went to the parent's waiter");
}

#[test]
fn forks_during_heavy_event_use_never_hang_the_child() {
    // Threads hammer a named and a local event (lock sections, waits, creates and opens)
    // while the main thread forks: the fork handler holds every event lock section out, so
    // each child can use both events at once.
    let name = ev_name("forkstorm");
    let shared = NamedEvent::create(&name, false, false).unwrap();
    let local = Event::new(false, false);
    let stop = std::sync::atomic::AtomicBool::new(false);
    /// Stops the hammering threads however the forking loop ends (a panic included).
    struct StopOnDrop<'a>(&'a std::sync::atomic::AtomicBool);
    impl Drop for StopOnDrop<'_> {
        fn drop(&mut self) {
            self.0.store(true, Ordering::Relaxed);
        }
    }
    let (hung, failed) = std::thread::scope(|sc| {
        let _stop = StopOnDrop(&stop);
        for t in 0..2 {
            let (shared, local, stop, name) = (&shared, &local, &stop, &name);
            sc.spawn(move || {
                let mut i = 0;
                while !stop.load(Ordering::Relaxed) {
                    shared.set().unwrap();
                    local.set();
                    let objs: [WaitObject<'_>; 2] = [shared.into(), local.into()];
                    let _ = wait_for_multiple(&objs, t == 0, Some(Instant::now() + ms(1)), None);
                    let other = format!("{name}-t{t}-{i}");
                    let e = NamedEvent::create(&other, true, false).unwrap();
                    NamedEvent::open(&other).unwrap().pulse().unwrap();
                    drop(e);
                    i += 1;
                }
            });
        }
        let (mut hung, mut failed) = (0, Vec::new());
        for k in 0..100 {
            // SAFETY: the child only uses the library and leaves with _exit.
            let pid = unsafe { libc::fork() };
            assert!(pid >= 0);
            if pid == 0 {
                let ok = shared.set().is_ok()
                    && shared.try_wait().is_ok()
                    && {
                        local.set();
                        local.try_wait()
                    }
                    && NamedEvent::create(&format!("{name}-child{k}"), true, true)
                        .and_then(|e| e.wait_timeout(ms(100)))
                        .unwrap_or(false);
                // SAFETY: leaving the child without running the parent's destructors.
                unsafe { libc::_exit(if ok { 0 } else { 1 }) };
            }
            let deadline = Instant::now() + Duration::from_secs(10);
            let mut st = 0;
            loop {
                // SAFETY: polling our own child.
                let r = unsafe { libc::waitpid(pid, &mut st, libc::WNOHANG) };
                if r == pid {
                    if !(libc::WIFEXITED(st) && libc::WEXITSTATUS(st) == 0) {
                        failed.push((k, st));
                    }
                    break;
                }
                if Instant::now() > deadline {
                    hung += 1;
                    // SAFETY: killing and reaping our own child.
                    unsafe {
                        libc::kill(pid, libc::SIGKILL);
                        libc::waitpid(pid, &mut st, 0);
                    }
                    break;
                }
                std::thread::sleep(ms(2));
            }
        }
        (hung, failed)
    });
    assert_eq!(hung, 0, "children hung");
    assert!(
        failed.is_empty(),
        "children failed (index, status): {failed:?}"
    );
}

// ---- hostile peers -------------------------------------------------------------------------

/// The three descriptors a raw OPEN handshake gets: (memfd, state eventfd, release eventfd).
fn raw_open(name: &str) -> (i32, i32, i32, i32) {
    // The socket address of an event: NS/event/Local\NAME.
    let ns = std::env::var("NPIPE_NAMESPACE")
        .ok()
        .filter(|s| !s.is_empty())
        .unwrap_or_else(|| "npipe".into());
    let addr = format!("{ns}/event/Local\\{name}");
    // SAFETY: plain libc calls with a zeroed sockaddr_un whose path fits (checked below).
    let sock = unsafe {
        let fd = libc::socket(libc::AF_UNIX, libc::SOCK_SEQPACKET | libc::SOCK_CLOEXEC, 0);
        assert!(fd >= 0);
        let mut sa: libc::sockaddr_un = std::mem::zeroed();
        sa.sun_family = libc::AF_UNIX as libc::sa_family_t;
        assert!(addr.len() < sa.sun_path.len());
        for (i, b) in addr.bytes().enumerate() {
            sa.sun_path[i + 1] = b as libc::c_char;
        }
        let len = (std::mem::size_of::<libc::sa_family_t>() + 1 + addr.len()) as libc::socklen_t;
        assert_eq!(
            libc::connect(fd, &sa as *const _ as *const libc::sockaddr, len),
            0
        );
        fd
    };
    util::raw_send(sock, &util::open_request(name));
    let mut buf = vec![0u8; 256];
    let mut cbuf = [0u64; 16];
    let mut fds = [-1i32; 3];
    // SAFETY: msghdr points at live buffers of the stated sizes.
    unsafe {
        let mut iov = libc::iovec {
            iov_base: buf.as_mut_ptr().cast(),
            iov_len: buf.len(),
        };
        let mut msg: libc::msghdr = std::mem::zeroed();
        msg.msg_iov = &mut iov;
        msg.msg_iovlen = 1;
        msg.msg_control = cbuf.as_mut_ptr().cast();
        msg.msg_controllen = std::mem::size_of_val(&cbuf) as _;
        let n = libc::recvmsg(sock, &mut msg, libc::MSG_CMSG_CLOEXEC);
        assert!(n > 0, "recvmsg: {}", io::Error::last_os_error());
        let c = libc::CMSG_FIRSTHDR(&msg);
        assert!(!c.is_null() && (*c).cmsg_type == libc::SCM_RIGHTS);
        let p = libc::CMSG_DATA(c) as *const i32;
        for (i, f) in fds.iter_mut().enumerate() {
            *f = std::ptr::read_unaligned(p.add(i));
        }
    }
    (sock, fds[0], fds[1], fds[2])
}

fn poke_u32(page: *mut u8, off: usize, v: u32) {
    // SAFETY: `off + 4` is inside the 4096-byte mapping; a peer may write any word.
    unsafe { std::ptr::write_volatile(page.add(off).cast::<u32>(), v) }
}

#[test]
fn scribbles_on_the_shared_page_are_errors_not_crashes() -> io::Result<()> {
    let name = ev_name("hostile");
    let ev = NamedEvent::create(&name, false, false)?;
    let (_sock, memfd, _efd, _rfd) = raw_open(&name);
    let page = util::map_queue(memfd, 4096);
    let check = |what: &str, e: io::Error| {
        assert_eq!(e.kind(), io::ErrorKind::InvalidData, "{what}: {e}");
        assert_eq!(win32_code(&e), 13, "{what}");
    };
    // A state word that is neither 0 nor 1.
    poke_u32(page, 16, 7);
    check("state", ev.set().unwrap_err());
    check("state, wait", ev.wait_timeout(ms(10)).unwrap_err());
    poke_u32(page, 16, 0);
    ev.set()?;
    assert!(ev.try_wait()?, "usable again once the word is sane");
    // A slot that counts more old waiters than waiters.
    poke_u32(page, 64 + 16 * 5 + 4, 9);
    check("slot", ev.set().unwrap_err());
    // ... which the repair after a "dead holder" (busy set) clamps instead.
    poke_u32(page, 20, 1);
    ev.set()?;
    assert!(ev.try_wait()?);
    // Huge waiter counts and tokens.
    poke_u32(page, 64 + 16 * 7, u32::MAX);
    poke_u32(page, 64 + 16 * 7 + 8, u32::MAX);
    check("counts", ev.pulse().unwrap_err());
    poke_u32(page, 64 + 16 * 7, 0);
    poke_u32(page, 64 + 16 * 7 + 8, 0);
    // The reset mode and the magic never change.
    poke_u32(page, 12, 1);
    check("mode", ev.reset().unwrap_err());
    poke_u32(page, 12, 0);
    poke_u32(page, 0, 0x4142_4344);
    check("magic", ev.is_set().unwrap_err());
    poke_u32(page, 0, u32::from_le_bytes(*b"NEV1"));
    ev.reset()?;
    // Bumping the generation releases our waiter early: what a SetEvent could do anyway.
    Ok(())
}

/// CPU time the calling thread has used.
fn thread_cpu() -> Duration {
    Duration::from_micros(util::cpu_us(&util::rusage(libc::RUSAGE_THREAD)))
}

#[test]
fn a_peer_poking_the_eventfds_cannot_make_waiters_spin() -> io::Result<()> {
    for manual in [false, true] {
        let name = ev_name("poke");
        let ev = NamedEvent::create(&name, manual, false)?;
        let (_sock, _memfd, efd, rfd) = raw_open(&name);
        let one = 1u64.to_ne_bytes();
        // SAFETY: writing 8 bytes to eventfds we own copies of, as a hostile peer would.
        unsafe {
            libc::write(efd, one.as_ptr().cast(), 8);
            libc::write(rfd, one.as_ptr().cast(), 8);
        }
        let (cpu0, t0) = (thread_cpu(), Instant::now());
        assert!(!ev.wait_timeout(ms(300))?, "nothing set the event");
        let (cpu, took) = (thread_cpu() - cpu0, t0.elapsed());
        assert!(took >= ms(290), "the wait lasted its timeout");
        assert!(
            cpu < ms(100),
            "the wait slept rather than spun: {cpu:?} of CPU in {took:?}"
        );
        assert!(!readable(ev.as_fd()), "the stray count was drained");
        ev.set()?;
        assert!(readable(ev.as_fd()) && ev.try_wait()?);
    }
    Ok(())
}

#[test]
fn a_peer_holding_the_lock_for_ever_gives_an_error_not_a_hang() -> io::Result<()> {
    let name = ev_name("locked");
    let ev = NamedEvent::create(&name, true, false)?;
    let (_sock, memfd, _e, _r) = raw_open(&name);
    // A hostile peer takes the OFD lock on its own description and keeps it.
    let path = format!("/proc/self/fd/{memfd}\0");
    // SAFETY: a NUL-terminated path and a zeroed flock of the right shape.
    let fd = unsafe {
        let fd = libc::open(path.as_ptr().cast(), libc::O_RDWR | libc::O_CLOEXEC);
        assert!(fd >= 0);
        let mut fl: libc::flock = std::mem::zeroed();
        fl.l_type = libc::F_WRLCK as _;
        fl.l_whence = libc::SEEK_SET as _;
        fl.l_start = 1 << 40;
        fl.l_len = 1;
        assert_eq!(libc::fcntl(fd, libc::F_OFD_SETLK, &mut fl), 0);
        fd
    };
    let t0 = Instant::now();
    let e = ev.set().unwrap_err();
    assert_eq!(win32_code(&e), 1131, "ERROR_POSSIBLE_DEADLOCK: {e}");
    assert!(t0.elapsed() >= ms(4_900) && t0.elapsed() < ms(15_000));
    // SAFETY: closing our own descriptor drops its lock.
    unsafe { libc::close(fd) };
    ev.set()?;
    assert!(ev.is_set()?);
    Ok(())
}

#[test]
fn garbage_instead_of_an_event_is_refused() {
    // A squatter that serves the address with something that is not an event.
    let name = ev_name("squat");
    let ns = std::env::var("NPIPE_NAMESPACE")
        .ok()
        .filter(|s| !s.is_empty())
        .unwrap_or_else(|| "npipe".into());
    let addr = format!("{ns}/event/Local\\{name}");
    // SAFETY: plain libc calls with a zeroed sockaddr_un whose path fits.
    let lfd = unsafe {
        let fd = libc::socket(libc::AF_UNIX, libc::SOCK_SEQPACKET | libc::SOCK_CLOEXEC, 0);
        let mut sa: libc::sockaddr_un = std::mem::zeroed();
        sa.sun_family = libc::AF_UNIX as libc::sa_family_t;
        for (i, b) in addr.bytes().enumerate() {
            sa.sun_path[i + 1] = b as libc::c_char;
        }
        let len = (std::mem::size_of::<libc::sa_family_t>() + 1 + addr.len()) as libc::socklen_t;
        assert_eq!(
            libc::bind(fd, &sa as *const _ as *const libc::sockaddr, len),
            0
        );
        assert_eq!(libc::listen(fd, 8), 0);
        fd
    };
    let t = std::thread::spawn(move || {
        // SAFETY: accepting on our listening socket.
        let c = unsafe { libc::accept(lfd, std::ptr::null_mut(), std::ptr::null_mut()) };
        let _ = util::raw_recv(c);
        // A "Connected" reply with no descriptors at all.
        let mut v = Vec::new();
        v.extend_from_slice(b"NPR1");
        v.extend_from_slice(&1u16.to_le_bytes());
        v.extend_from_slice(&1u16.to_le_bytes());
        v.extend_from_slice(&0u32.to_le_bytes());
        v.extend_from_slice(&[1, 1, 0, 0]);
        for _ in 0..6 {
            v.extend_from_slice(&0u32.to_le_bytes());
        }
        v.extend_from_slice(&4096u64.to_le_bytes());
        v.extend_from_slice(&0u64.to_le_bytes());
        util::raw_send(c, &v);
        std::thread::sleep(ms(200));
        c
    });
    let e = NamedEvent::open(&name).unwrap_err();
    assert_eq!(win32_code(&e), 13, "{e}");
    let _ = t.join();
}
