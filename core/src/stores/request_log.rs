//! The request log in this isolate's memory, and the writer that sends records to a log
//! store in batches, after the responses and never in their way.

use crate::error::Error;
use crate::ports::{Clock, LocalFuture, RequestLogStore};
use crate::request_log::{LogBook, LogOp, LogReply, RequestRecord, LOG_CAPACITY};
use std::cell::{Cell, RefCell};
use std::rc::Rc;

pub struct MemoryRequestLog {
    book: RefCell<LogBook>,
    clock: Rc<dyn Clock>,
}

impl MemoryRequestLog {
    pub fn new(clock: Rc<dyn Clock>) -> Self {
        MemoryRequestLog {
            book: RefCell::new(LogBook::default()),
            clock,
        }
    }
}

impl RequestLogStore for MemoryRequestLog {
    fn apply(&self, op: LogOp) -> LocalFuture<Result<LogReply, Error>> {
        let reply = self.book.borrow_mut().apply(op, self.clock.now_ms());
        Box::pin(async move { Ok(reply) })
    }
}

/// Collects records and writes them in batches: one write at a time, at most one per
/// `every_ms`, each taking every record that arrived since the last. Records beyond the log's
/// capacity wait no longer: the oldest are dropped (a store that cannot keep up loses log
/// lines, never memory).
pub struct LogWriter {
    store: Rc<dyn RequestLogStore>,
    clock: Rc<dyn Clock>,
    every_ms: u64,
    pending: RefCell<Vec<RequestRecord>>,
    writing: Cell<bool>,
}

/// Writes a job makes at most before it ends (a job lives in one request's background time;
/// the next request's job takes over).
const WRITES_PER_JOB: usize = 4;

/// Lets go of the writer's turn however its job ends (finished, or dropped by the host).
struct Turn(Rc<LogWriter>);

impl Drop for Turn {
    fn drop(&mut self) {
        self.0.writing.set(false);
    }
}

impl LogWriter {
    /// A writer to `store` that waits `every_ms` before each write, gathering what arrives
    /// meanwhile (0: writes at once, for a store in memory).
    pub fn new(store: Rc<dyn RequestLogStore>, clock: Rc<dyn Clock>, every_ms: u64) -> Rc<Self> {
        Rc::new(LogWriter {
            store,
            clock,
            every_ms,
            pending: RefCell::new(Vec::new()),
            writing: Cell::new(false),
        })
    }

    pub fn store(&self) -> &Rc<dyn RequestLogStore> {
        &self.store
    }

    pub fn push(&self, record: RequestRecord) {
        let mut pending = self.pending.borrow_mut();
        if pending.len() >= LOG_CAPACITY {
            pending.remove(0);
        }
        pending.push(record);
    }

    /// The work that writes what is pending, unless a write is already on its way (it takes
    /// these records too) or nothing is pending.
    pub fn flush(self: &Rc<Self>) -> Option<LocalFuture<()>> {
        if self.writing.get() || self.pending.borrow().is_empty() {
            return None;
        }
        self.writing.set(true);
        let turn = Turn(self.clone());
        Some(Box::pin(async move {
            let me = &turn.0;
            for _ in 0..WRITES_PER_JOB {
                if me.every_ms > 0 {
                    me.clock.sleep(me.every_ms).await;
                }
                let records = std::mem::take(&mut *me.pending.borrow_mut());
                if records.is_empty() {
                    break;
                }
                // A failed write loses its batch: the log is for looking, not for accounting.
                let _ = me.store.apply(LogOp::Append { records }).await;
            }
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::request_log::LogFilter;
    use crate::testing::ManualClock;
    use futures::executor::block_on;

    /// A store that counts its writes and holds each until released.
    struct Slow {
        inner: MemoryRequestLog,
        writes: Cell<usize>,
        gate: RefCell<Option<futures::channel::oneshot::Receiver<()>>>,
    }

    impl RequestLogStore for Slow {
        fn apply(&self, op: LogOp) -> LocalFuture<Result<LogReply, Error>> {
            if matches!(op, LogOp::Append { .. }) {
                self.writes.set(self.writes.get() + 1);
            }
            let gate = self.gate.borrow_mut().take();
            let reply = self.inner.apply(op);
            Box::pin(async move {
                if let Some(g) = gate {
                    let _ = g.await;
                }
                reply.await
            })
        }
    }

    fn record(id: &str) -> RequestRecord {
        RequestRecord {
            id: id.into(),
            ..RequestRecord::default()
        }
    }

    #[test]
    fn records_that_arrive_during_a_write_go_in_the_next_one() {
        let clock: Rc<dyn Clock> = Rc::new(ManualClock::at(0.0));
        let (open, gate) = futures::channel::oneshot::channel();
        let store = Rc::new(Slow {
            inner: MemoryRequestLog::new(clock.clone()),
            writes: Cell::new(0),
            gate: RefCell::new(Some(gate)),
        });
        let writer = LogWriter::new(store.clone(), clock.clone(), 0);
        assert!(writer.flush().is_none(), "nothing to write");
        writer.push(record("a"));
        let mut first = writer.flush().expect("a write");
        let waker = futures::task::noop_waker();
        let mut cx = std::task::Context::from_waker(&waker);
        assert!(
            first.as_mut().poll(&mut cx).is_pending(),
            "held by the gate"
        );
        writer.push(record("b"));
        writer.push(record("c"));
        assert!(writer.flush().is_none(), "the write out takes them");
        open.send(()).unwrap();
        block_on(first);
        assert_eq!(store.writes.get(), 2, "a and then b+c");
        let LogReply::Records { matched, .. } = block_on(store.apply(LogOp::List {
            filter: LogFilter::default(),
        }))
        .unwrap() else {
            panic!()
        };
        assert_eq!(matched, 3);
        writer.push(record("d"));
        let dropped = writer.flush().expect("free again after the write");
        drop(dropped);
        assert!(
            writer.flush().is_some(),
            "a job dropped unfinished lets go of its turn"
        );
    }

    #[test]
    fn a_delayed_writer_gathers_what_arrives_before_it_writes() {
        let clock = ManualClock::timed_at(0.0);
        let store = Rc::new(Slow {
            inner: MemoryRequestLog::new(Rc::new(clock.clone())),
            writes: Cell::new(0),
            gate: RefCell::new(None),
        });
        let writer = LogWriter::new(store.clone(), Rc::new(clock.clone()), 1_000);
        writer.push(record("a"));
        let mut job = writer.flush().unwrap();
        let waker = futures::task::noop_waker();
        let mut cx = std::task::Context::from_waker(&waker);
        assert!(
            job.as_mut().poll(&mut cx).is_pending(),
            "waiting out its second"
        );
        for id in ["b", "c", "d"] {
            writer.push(record(id));
            assert!(writer.flush().is_none());
        }
        clock.run(job).unwrap();
        assert_eq!(store.writes.get(), 1, "one write for all four");
        assert_eq!(
            *clock.slept.borrow(),
            [1_000, 1_000],
            "then one more look, and nothing"
        );
    }
}
