//! The AWS event stream framing (`application/vnd.amazon.eventstream`) that Bedrock's
//! ConverseStream answers with: binary frames of a prelude (total length, headers length,
//! prelude CRC32), headers, a payload and a message CRC32. Decoded incrementally; each frame
//! becomes an event named by its `:event-type` (or `:exception-type`) header.

use crate::sse::SseEvent;

/// CRC-32 (IEEE 802.3), as the framing uses.
pub fn crc32(data: &[u8]) -> u32 {
    let mut crc = 0xFFFF_FFFFu32;
    for &b in data {
        crc ^= u32::from(b);
        for _ in 0..8 {
            let mask = (crc & 1).wrapping_neg();
            crc = (crc >> 1) ^ (0xEDB8_8320 & mask);
        }
    }
    !crc
}

#[derive(Debug, Default)]
pub struct EventStreamDecoder {
    buf: Vec<u8>,
    /// A frame failed its checks: the stream cannot be trusted past it.
    pub corrupt: bool,
}

fn be32(b: &[u8]) -> u32 {
    u32::from_be_bytes([b[0], b[1], b[2], b[3]])
}

impl EventStreamDecoder {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn has_partial(&self) -> bool {
        !self.buf.is_empty()
    }

    /// Feeds bytes; complete frames are appended to `out` as events. An exception frame is an
    /// event named `exception` whose data is `{"type": ..., "message": ...}`.
    pub fn push(&mut self, chunk: &[u8], out: &mut Vec<SseEvent>) {
        if self.corrupt {
            return;
        }
        self.buf.extend_from_slice(chunk);
        loop {
            if self.buf.len() < 12 {
                return;
            }
            let total = be32(&self.buf[0..4]) as usize;
            let headers_len = be32(&self.buf[4..8]) as usize;
            if total < 16 + headers_len || crc32(&self.buf[0..8]) != be32(&self.buf[8..12]) {
                self.corrupt = true;
                return;
            }
            if self.buf.len() < total {
                return;
            }
            let frame: Vec<u8> = self.buf.drain(..total).collect();
            if crc32(&frame[..total - 4]) != be32(&frame[total - 4..]) {
                self.corrupt = true;
                return;
            }
            let headers = parse_headers(&frame[12..12 + headers_len]);
            let payload = frame[12 + headers_len..total - 4].to_vec();
            let get = |k: &str| headers.iter().find(|(n, _)| n == k).map(|(_, v)| v.clone());
            let ev = if get(":message-type").as_deref() == Some("exception") {
                let kind = get(":exception-type").unwrap_or_else(|| "exception".into());
                let message = serde_json::from_slice::<serde_json::Value>(&payload)
                    .ok()
                    .and_then(|v| {
                        v.get("message")
                            .and_then(|m| m.as_str())
                            .map(str::to_string)
                    })
                    .unwrap_or_else(|| String::from_utf8_lossy(&payload).into_owned());
                SseEvent {
                    event: Some("exception".into()),
                    data: serde_json::json!({"type": kind, "message": message})
                        .to_string()
                        .into_bytes(),
                }
            } else {
                SseEvent {
                    event: get(":event-type"),
                    data: payload,
                }
            };
            out.push(ev);
        }
    }
}

/// String-valued headers (type 7); other types are skipped.
fn parse_headers(mut b: &[u8]) -> Vec<(String, String)> {
    let mut out = Vec::new();
    while !b.is_empty() {
        let name_len = b[0] as usize;
        if b.len() < 1 + name_len + 1 {
            break;
        }
        let name = String::from_utf8_lossy(&b[1..1 + name_len]).into_owned();
        let kind = b[1 + name_len];
        b = &b[2 + name_len..];
        let skip = match kind {
            0 | 1 => 0,
            2 => 1,
            3 => 2,
            4 => 4,
            5 | 8 => 8,
            9 => 16,
            6 | 7 => {
                if b.len() < 2 {
                    break;
                }
                let len = u16::from_be_bytes([b[0], b[1]]) as usize;
                if b.len() < 2 + len {
                    break;
                }
                if kind == 7 {
                    out.push((name, String::from_utf8_lossy(&b[2..2 + len]).into_owned()));
                }
                2 + len
            }
            _ => break,
        };
        if b.len() < skip {
            break;
        }
        b = &b[skip..];
    }
    out
}

/// Writes a frame (string headers only), for tests and mocks.
pub fn encode(headers: &[(&str, &str)], payload: &[u8]) -> Vec<u8> {
    let mut h = Vec::new();
    for (k, v) in headers {
        h.push(k.len() as u8);
        h.extend_from_slice(k.as_bytes());
        h.push(7);
        h.extend_from_slice(&(v.len() as u16).to_be_bytes());
        h.extend_from_slice(v.as_bytes());
    }
    let total = 12 + h.len() + payload.len() + 4;
    let mut f = Vec::with_capacity(total);
    f.extend_from_slice(&(total as u32).to_be_bytes());
    f.extend_from_slice(&(h.len() as u32).to_be_bytes());
    let prelude_crc = crc32(&f);
    f.extend_from_slice(&prelude_crc.to_be_bytes());
    f.extend_from_slice(&h);
    f.extend_from_slice(payload);
    let crc = crc32(&f);
    f.extend_from_slice(&crc.to_be_bytes());
    f
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn crc32_check_value() {
        assert_eq!(crc32(b"123456789"), 0xCBF4_3926);
    }

    fn frames() -> Vec<u8> {
        let mut s = encode(
            &[(":event-type", "messageStart"), (":message-type", "event")],
            br#"{"role":"assistant"}"#,
        );
        s.extend(encode(
            &[
                (":event-type", "contentBlockDelta"),
                (":message-type", "event"),
            ],
            br#"{"contentBlockIndex":0,"delta":{"text":"Hi"}}"#,
        ));
        s.extend(encode(
            &[
                (":exception-type", "throttlingException"),
                (":message-type", "exception"),
            ],
            br#"{"message":"slow down"}"#,
        ));
        s
    }

    #[test]
    fn decodes_frames_split_anywhere() {
        let all = frames();
        let mut whole = Vec::new();
        EventStreamDecoder::new().push(&all, &mut whole);
        assert_eq!(whole.len(), 3);
        assert_eq!(whole[0].event.as_deref(), Some("messageStart"));
        assert_eq!(
            whole[1].data,
            br#"{"contentBlockIndex":0,"delta":{"text":"Hi"}}"#.to_vec()
        );
        assert_eq!(whole[2].event.as_deref(), Some("exception"));
        assert!(String::from_utf8_lossy(&whole[2].data).contains("slow down"));
        for cut in 0..all.len() {
            let mut d = EventStreamDecoder::new();
            let mut out = Vec::new();
            d.push(&all[..cut], &mut out);
            d.push(&all[cut..], &mut out);
            assert_eq!(out, whole, "cut at {cut}");
        }
    }

    #[test]
    fn a_corrupt_frame_stops_the_stream() {
        let mut all = frames();
        all[20] ^= 0xFF;
        let mut d = EventStreamDecoder::new();
        let mut out = Vec::new();
        d.push(&all, &mut out);
        assert!(d.corrupt);
        assert!(out.is_empty());
    }
}
