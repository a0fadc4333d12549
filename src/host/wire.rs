//! The instructions the host hands JavaScript, as one byte buffer per call: a record per
//! instruction, a kind byte then its fields, integers little-endian, text and bytes as a u32
//! length and their bytes. `src/js/wire.mjs` reads the same layout; the kinds are numbered
//! alike in both files.

/// What JavaScript is asked to do.
#[derive(Clone, Copy)]
#[repr(u8)]
pub enum Kind {
    /// `fetch`: op, task, stream (u8), url, method, headers text, body.
    Fetch = 1,
    /// Arm the task's one timer to fire at (f64, ms since the epoch) unless it fires sooner.
    Arm = 2,
    /// The next chunk of an upstream body: op, handle (the fetch's op).
    Read = 3,
    /// Abandon an upstream call and its body: handle.
    Abort = 4,
    /// The op is no longer awaited: op.
    Cancel = 5,
    /// A Durable Object request: op, object name, path, method, body text.
    Durable = 6,
    /// A KV read: op, binding, key.
    KvGet = 7,
    /// A KV write: op, binding, key, value, ttl seconds (u32).
    KvPut = 8,
    /// The client's request body, at most `limit` bytes: op, task, limit (u32).
    Body = 9,
    /// The answer to a request: task, status (u16), headers text, then 0 and the body, or 1
    /// and the task that streams it.
    Respond = 10,
    /// A chunk of a streamed answer: stream task, bytes.
    Chunk = 11,
    /// A task runs after the response (`waitUntil`): task, the request it belongs to.
    Spawned = 13,
    /// A task has finished (a stream ends): task.
    Ended = 14,
    /// A log line: level (0 log, 1 warn, 2 error), text.
    Log = 15,
    /// RS256 with WebCrypto: op, the PKCS#8 key, the message.
    Sign = 16,
}

/// An instruction buffer being written.
#[derive(Default)]
pub struct Out(Vec<u8>);

impl Out {
    pub fn kind(&mut self, k: Kind) -> &mut Self {
        self.0.push(k as u8);
        self
    }
    pub fn u8(&mut self, v: u8) -> &mut Self {
        self.0.push(v);
        self
    }
    pub fn u16(&mut self, v: u16) -> &mut Self {
        self.0.extend_from_slice(&v.to_le_bytes());
        self
    }
    pub fn u32(&mut self, v: u32) -> &mut Self {
        self.0.extend_from_slice(&v.to_le_bytes());
        self
    }
    pub fn f64(&mut self, v: f64) -> &mut Self {
        self.0.extend_from_slice(&v.to_le_bytes());
        self
    }
    pub fn bytes(&mut self, b: &[u8]) -> &mut Self {
        // A length over u32 cannot occur: bodies are capped far below 4 GiB.
        self.u32(u32::try_from(b.len()).unwrap_or(u32::MAX));
        self.0.extend_from_slice(b);
        self
    }
    pub fn text(&mut self, s: &str) -> &mut Self {
        self.bytes(s.as_bytes())
    }
    /// The buffer so far, leaving this one empty.
    pub fn take(&mut self) -> Vec<u8> {
        std::mem::take(&mut self.0)
    }
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn records_are_kind_then_fields() {
        let mut out = Out::default();
        out.kind(Kind::Read).u32(7).u32(3);
        out.kind(Kind::Log).u8(2).text("é");
        assert_eq!(
            out.take(),
            vec![3, 7, 0, 0, 0, 3, 0, 0, 0, 15, 2, 2, 0, 0, 0, 0xc3, 0xa9]
        );
        assert!(out.is_empty());
    }
}
