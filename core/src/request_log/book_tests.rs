use super::*;
use crate::request_log::{LogFilter, LogOp, LogReply};

const MIN: f64 = 60_000.0;

fn rec(id: usize, at_ms: f64, group: &str, deployment: Option<&str>, status: u16) -> RequestRecord {
    RequestRecord {
        id: format!("r{id}"),
        at_ms,
        key: if id.is_multiple_of(2) {
            "team-a"
        } else {
            "team-b"
        }
        .into(),
        group: Some(group.into()),
        deployment: deployment.map(str::to_string),
        status,
        latency_ms: 40.0 + id as f64 % 10.0,
        tokens: 10,
        cost: 0.000123,
        ..RequestRecord::default()
    }
}

fn list(book: &mut LogBook, filter: LogFilter) -> (Vec<String>, usize) {
    match book.apply(LogOp::List { filter }, 0.0) {
        LogReply::Records { records, matched } => {
            (records.into_iter().map(|r| r.id).collect(), matched)
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn the_ring_keeps_the_newest_thousand_and_lists_newest_first() {
    let mut book = LogBook::default();
    let now = 100.0 * MIN;
    let records = (0..1_005)
        .map(|i| rec(i, now, "g", Some("d1"), 200))
        .collect();
    book.append(records, now);
    assert_eq!(book.len(), LOG_CAPACITY);
    let (ids, matched) = list(&mut book, LogFilter::default());
    assert_eq!(matched, 1_000);
    assert_eq!(ids.len(), 100, "the default limit");
    assert_eq!(ids[0], "r1004");
    let LogReply::Record { record } = book.apply(LogOp::Get { id: "r4".into() }, now) else {
        panic!()
    };
    assert!(record.is_none(), "pushed out of the ring");
    let LogReply::Record { record } = book.apply(LogOp::Get { id: "r5".into() }, now) else {
        panic!()
    };
    assert_eq!(record.map(|r| r.id).as_deref(), Some("r5"));
    // The minute counts every record, not only those the ring kept.
    let b = book.bucket(&(100, "g".into(), "d1".into())).unwrap();
    assert_eq!(b.requests, 1_005);
}

#[test]
fn filters_combine() {
    let mut book = LogBook::default();
    let now = 10.0 * MIN;
    book.append(
        vec![
            rec(0, now, "g", Some("d1"), 200),
            rec(1, now, "g", Some("d2"), 429),
            rec(2, now, "h", Some("d3"), 503),
            rec(3, now, "g", None, 401),
        ],
        now,
    );
    let f = |group: Option<&str>, status: Option<&str>, key: Option<&str>| LogFilter {
        group: group.map(str::to_string),
        status: status.map(str::to_string),
        key: key.map(str::to_string),
        ..LogFilter::default()
    };
    assert_eq!(list(&mut book, f(Some("g"), None, None)).1, 3);
    assert_eq!(list(&mut book, f(None, Some("4xx"), None)).0, ["r3", "r1"]);
    assert_eq!(list(&mut book, f(None, Some("error"), None)).1, 3);
    assert_eq!(list(&mut book, f(None, Some("503"), None)).0, ["r2"]);
    assert_eq!(
        list(&mut book, f(None, Some("2xx"), Some("team-a"))).0,
        ["r0"]
    );
    assert_eq!(list(&mut book, f(Some("h"), Some("2xx"), None)).1, 0);
    let by_deployment = LogFilter {
        deployment: Some("d2".into()),
        ..LogFilter::default()
    };
    assert_eq!(list(&mut book, by_deployment).0, ["r1"]);
}

#[test]
fn history_counts_each_step_and_forgets_after_a_day() {
    let mut book = LogBook::default();
    let now = 2_000.0 * MIN + 30_000.0;
    book.append(
        vec![
            rec(0, now - 10.0 * MIN, "g", Some("d1"), 200),
            rec(1, now - 10.0 * MIN, "g", Some("d1"), 500),
            rec(2, now, "g", Some("d2"), 200),
            rec(3, now, "g", None, 429),
            // Older than a day: not counted.
            rec(4, now - 1_500.0 * MIN, "g", Some("d1"), 200),
        ],
        now,
    );
    let q = |group: Option<&str>, deployment: Option<&str>| HistoryQuery {
        minutes: 60,
        step_minutes: 1,
        group: group.map(str::to_string),
        deployment: deployment.map(str::to_string),
    };
    let LogReply::History { history } = book.apply(
        LogOp::History {
            query: q(None, None),
        },
        now,
    ) else {
        panic!()
    };
    assert_eq!(history.points.len(), 60);
    assert_eq!(history.step_ms, MIN);
    let last = history.points.last().unwrap();
    assert_eq!(last.t, 2_000.0 * MIN);
    assert_eq!((last.requests, last.errors, last.rejected), (2, 1, 1));
    let ten_ago = &history.points[49];
    assert_eq!((ten_ago.requests, ten_ago.errors), (2, 1));
    assert!(ten_ago.p50_ms.is_some_and(|p| (25.0..=50.0).contains(&p)));
    assert!((history.points.iter().map(|p| p.cost).sum::<f64>() - 4.0 * 0.000123).abs() < 1e-12);
    assert_eq!(history.totals.len(), 3, "{:?}", history.totals);
    let LogReply::History { history } = book.apply(
        LogOp::History {
            query: q(None, Some("d1")),
        },
        now,
    ) else {
        panic!()
    };
    assert_eq!(history.points.iter().map(|p| p.requests).sum::<u64>(), 2);
    // A day in 15-minute steps: 96 of them, aligned to the quarter hour.
    let day = HistoryQuery {
        minutes: 1_440,
        step_minutes: 15,
        ..HistoryQuery::default()
    };
    let LogReply::History { history } = book.apply(LogOp::History { query: day }, now) else {
        panic!()
    };
    assert!(
        (96..=97).contains(&history.points.len()),
        "{}",
        history.points.len()
    );
    assert!(history
        .points
        .iter()
        .all(|p| ((p.t / MIN) as u64).is_multiple_of(15)));
    assert_eq!(history.points.iter().map(|p| p.requests).sum::<u64>(), 4);
    // A call served by d2 after d1 failed it: d1's bucket counts the failed attempt, not a
    // request.
    let mut retried = rec(9, now, "g", Some("d2"), 200);
    retried.steps = vec![crate::trace::Step {
        group: "g".into(),
        deployment: Some("d1".into()),
        kind: crate::trace::StepKind::Failed,
        detail: "timeout 504".into(),
        ms: None,
    }];
    book.append(vec![retried], now);
    let d1 = book.bucket(&(2_000, "g".into(), "d1".into())).unwrap();
    assert_eq!((d1.requests, d1.failed_attempts), (0, 1));
    // A day later the buckets are gone.
    let (_, oldest) = book.append(Vec::new(), now + 1_441.0 * MIN);
    assert!(oldest > 2_000);
    assert!(book.bucket(&(2_000, "g".into(), "d2".into())).is_none());
}
