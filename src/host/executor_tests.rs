use super::*;
use futures::future::{select, Either};
use std::rc::Rc;

/// The records of an instruction buffer, as (kind, the u32 fields that follow it) for the
/// kinds these tests use.
fn records(buf: &[u8]) -> Vec<(u8, Vec<u32>)> {
    let mut out = Vec::new();
    let mut i = 0;
    let u32_at = |i: usize| u32::from_le_bytes([buf[i], buf[i + 1], buf[i + 2], buf[i + 3]]);
    while i < buf.len() {
        let kind = buf[i];
        i += 1;
        let fields = match kind {
            // Arm: task, f64
            2 => {
                let v = vec![u32_at(i)];
                i += 12;
                v
            }
            // Read: op, handle
            3 => {
                let v = vec![u32_at(i), u32_at(i + 4)];
                i += 8;
                v
            }
            // Cancel, Ended: one u32
            5 | 14 => {
                let v = vec![u32_at(i)];
                i += 4;
                v
            }
            // Spawned: task, root
            13 => {
                let v = vec![u32_at(i), u32_at(i + 4)];
                i += 8;
                v
            }
            k => panic!("kind {k} not read by these tests"),
        };
        out.push((kind, fields));
    }
    out
}

fn read_op(handle: u32) -> Op {
    Op::new(|o, id, _| {
        o.kind(Kind::Read).u32(id).u32(handle);
    })
}

fn chunk() -> Reply {
    Reply::Done {
        code: 1,
        text: String::new(),
        bytes: b"x".to_vec(),
    }
}

#[test]
fn a_task_waits_for_its_operation_and_ends_when_answered() {
    set_now(1000.0);
    let got = Rc::new(RefCell::new(None));
    let seen = got.clone();
    let task = spawn(
        async move {
            *seen.borrow_mut() = Some(read_op(9).await);
        },
        0,
    );
    let first = records(&run());
    assert_eq!(first.len(), 1);
    let (kind, fields) = &first[0];
    assert_eq!(*kind, Kind::Read as u8);
    assert_eq!(fields[1], 9);
    assert!(got.borrow().is_none(), "nothing answered yet");
    reply(fields[0], chunk());
    assert_eq!(records(&run()), vec![(Kind::Ended as u8, vec![task])]);
    assert_eq!(*got.borrow(), Some(chunk()));
}

#[test]
fn a_cancelled_task_cancels_its_pending_operation() {
    let task = spawn(
        async {
            read_op(1).await;
        },
        0,
    );
    let op = records(&run())[0].1[0];
    cancel(task);
    assert_eq!(records(&run()), vec![(Kind::Cancel as u8, vec![op])]);
    // A late answer for it changes nothing and does not panic.
    reply(op, chunk());
    assert!(run().is_empty());
}

#[test]
fn a_stream_of_reads_each_raced_with_its_idle_timeout_arms_one_timer() {
    set_now(0.0);
    let reads = Rc::new(RefCell::new(0));
    let count = reads.clone();
    let task = spawn(
        async move {
            loop {
                let idle = Sleep::until(now() + 60_000.0);
                match select(read_op(1), idle).await {
                    Either::Left(_) => *count.borrow_mut() += 1,
                    Either::Right(_) => return,
                }
            }
        },
        0,
    );
    let mut arms = 0;
    let mut buf = run();
    for step in 0..20 {
        set_now(f64::from(step) * 50.0);
        let recs = records(&buf);
        arms += recs.iter().filter(|(k, _)| *k == Kind::Arm as u8).count();
        let op = recs.iter().find(|(k, _)| *k == Kind::Read as u8).unwrap().1[0];
        reply(op, chunk());
        buf = run();
    }
    assert_eq!(*reads.borrow(), 20);
    assert_eq!(arms, 1, "one timer for the whole stream");
    // The timer fires at the first deadline; the task's newer deadline is later: re-armed once.
    set_now(60_000.0);
    timer_fired(task);
    let recs = records(&run());
    assert_eq!(
        recs.iter().filter(|(k, _)| *k == Kind::Arm as u8).count(),
        1
    );
    assert!(!recs.iter().any(|(k, _)| *k == Kind::Ended as u8));
    // Nothing arrives until that one passes: the idle timeout wins and the pending read is
    // cancelled.
    set_now(61_000.0);
    timer_fired(task);
    let recs = records(&run());
    assert!(recs.contains(&(Kind::Ended as u8, vec![task])), "{recs:?}");
    assert!(recs.iter().any(|(k, _)| *k == Kind::Cancel as u8));
}

#[test]
fn an_earlier_deadline_re_arms_and_a_dropped_one_is_forgotten() {
    set_now(0.0);
    let task = spawn(
        async {
            // A long wait raced with a read; then a short sleep alone.
            let _ = select(read_op(1), Sleep::until(10_000.0)).await;
            Sleep::until(100.0 + now()).await;
        },
        0,
    );
    let recs = records(&run());
    let op = recs.iter().find(|(k, _)| *k == Kind::Read as u8).unwrap().1[0];
    assert_eq!(
        recs.iter().filter(|(k, _)| *k == Kind::Arm as u8).count(),
        1
    );
    set_now(10.0);
    reply(op, chunk());
    // The 110 ms deadline is earlier than the armed 10 s one: armed again.
    let recs = records(&run());
    assert_eq!(recs, vec![(Kind::Arm as u8, vec![task])]);
    set_now(110.0);
    timer_fired(task);
    assert_eq!(records(&run()), vec![(Kind::Ended as u8, vec![task])]);
}

#[test]
fn background_work_names_the_request_it_belongs_to() {
    let request = spawn(
        async {
            spawn_background(async {
                read_op(3).await;
            });
        },
        0,
    );
    let recs = records(&run());
    let spawned = recs
        .iter()
        .find(|(k, _)| *k == Kind::Spawned as u8)
        .unwrap();
    assert_eq!(spawned.1[1], request);
    assert!(recs.contains(&(Kind::Ended as u8, vec![request])));
    assert!(recs.iter().any(|(k, _)| *k == Kind::Read as u8));
}
