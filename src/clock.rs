//! The clock port over the platform: `Date.now()` and `setTimeout` (through gloo-timers).

use switchyard_core::ports::{Clock, LocalFuture};

pub struct JsClock;

impl Clock for JsClock {
    fn now_ms(&self) -> f64 {
        js_sys::Date::now()
    }

    fn sleep(&self, ms: u64) -> LocalFuture<()> {
        // setTimeout takes a 32-bit delay; anything longer is clamped (about 24 days).
        let ms = u32::try_from(ms)
            .unwrap_or(i32::MAX as u32)
            .min(i32::MAX as u32);
        Box::pin(gloo_timers::future::TimeoutFuture::new(ms))
    }
}
