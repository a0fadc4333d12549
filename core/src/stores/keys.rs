//! The book of virtual keys in this isolate's memory (no Durable Object bound).

use crate::error::Error;
use crate::keys::{KeyBook, KeyOp, KeyReply};
use crate::ports::{Clock, KeyStore, LocalFuture};
use std::cell::RefCell;
use std::rc::Rc;

/// The book in this isolate's memory (no Durable Object bound).
pub struct MemoryKeys {
    pub book: RefCell<KeyBook>,
    pub clock: Rc<dyn Clock>,
}

impl MemoryKeys {
    pub fn new(clock: Rc<dyn Clock>) -> Self {
        MemoryKeys {
            book: RefCell::new(KeyBook::default()),
            clock,
        }
    }
}

impl KeyStore for MemoryKeys {
    fn apply(&self, op: KeyOp) -> LocalFuture<Result<KeyReply, Error>> {
        let reply = self.book.borrow_mut().apply(op, self.clock.now_ms());
        Box::pin(async move { Ok(reply) })
    }
}
