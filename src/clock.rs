//! The clock port: the time JavaScript gave on entering the host (the platform's clock does not
//! move while code runs, so reading it again would only cost a crossing) and sleeps that are
//! deadlines in their task's list (`host::executor::Sleep`).

use crate::host::executor::{now, Sleep};
use switchyard_core::ports::{Clock, LocalFuture};

pub struct HostClock;

impl Clock for HostClock {
    fn now_ms(&self) -> f64 {
        now()
    }

    fn sleep(&self, ms: u64) -> LocalFuture<()> {
        Box::pin(Sleep::until(now() + ms as f64))
    }
}
