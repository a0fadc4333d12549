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

/// Collects records and writes them in batches: one write at a time, each taking every
/// record that arrived while the one before was out. Records beyond the log's capacity wait
/// no longer: the oldest are dropped (a store that cannot keep up loses log lines, never
/// memory).
pub struct LogWriter {
    store: Rc<dyn RequestLogStore>,
    pending: RefCell<Vec<RequestRecord>>,
    writing: Cell<bool>,
}

impl LogWriter {
    pub fn new(store: Rc<dyn RequestLogStore>) -> Rc<Self> {
        Rc::new(LogWriter {
            store,
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

    /// The work that writes what is pending, unless a write is already out (it takes these
    /// records too) or nothing is.
    pub fn flush(self: &Rc<Self>) -> Option<LocalFuture<()>> {
        if self.writing.get() || self.pending.borrow().is_empty() {
            return None;
        }
        self.writing.set(true);
        let me = self.clone();
        Some(Box::pin(async move {
            loop {
                let records = std::mem::take(&mut *me.pending.borrow_mut());
                if records.is_empty() {
                    break;
                }
                // A failed write loses its batch: the log is for looking, not for accounting.
                let _ = me.store.apply(LogOp::Append { records }).await;
            }
            me.writing.set(false);
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
        let clock = Rc::new(ManualClock::at(0.0));
        let (open, gate) = futures::channel::oneshot::channel();
        let store = Rc::new(Slow {
            inner: MemoryRequestLog::new(clock),
            writes: Cell::new(0),
            gate: RefCell::new(Some(gate)),
        });
        let writer = LogWriter::new(store.clone());
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
        assert!(writer.flush().is_some(), "free again after the write");
    }
}
