//! Incremental Server-Sent Events decoder (the WHATWG event-stream format). Bytes arrive split
//! anywhere, lines end in LF, CRLF or CR, and an event is dispatched at a blank line.

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SseEvent {
    /// The `event:` field, when the stream names its events (Anthropic does; OpenAI does not).
    pub event: Option<String>,
    /// The `data:` lines joined with `\n`.
    pub data: Vec<u8>,
}

#[derive(Debug, Default)]
pub struct SseDecoder {
    /// Bytes of an unfinished line.
    line: Vec<u8>,
    data: Vec<u8>,
    has_data: bool,
    event: Option<String>,
    /// The last chunk ended in CR: a LF starting the next one belongs to that line end.
    skip_lf: bool,
}

impl SseDecoder {
    pub fn new() -> Self {
        Self::default()
    }

    /// Feeds bytes; complete events are appended to `out`.
    pub fn push(&mut self, mut chunk: &[u8], out: &mut Vec<SseEvent>) {
        if chunk.is_empty() {
            return; // an empty read must not forget a CR waiting for its LF
        }
        if self.skip_lf {
            self.skip_lf = false;
            if let Some(rest) = chunk.strip_prefix(b"\n") {
                chunk = rest;
            }
        }
        while let Some(end) = chunk.iter().position(|&b| b == b'\n' || b == b'\r') {
            let (line, rest) = chunk.split_at(end);
            let mut rest = &rest[1..];
            if chunk[end] == b'\r' {
                match rest.first() {
                    Some(b'\n') => rest = &rest[1..],
                    None => self.skip_lf = true,
                    Some(_) => {}
                }
            }
            if self.line.is_empty() {
                self.line_done(line, out);
            } else {
                let mut whole = std::mem::take(&mut self.line);
                whole.extend_from_slice(line);
                self.line_done(&whole, out);
            }
            chunk = rest;
        }
        self.line.extend_from_slice(chunk);
    }

    /// Whether bytes of an unfinished event are held (a stream that stops here was cut).
    pub fn has_partial(&self) -> bool {
        !self.line.is_empty() || self.has_data
    }

    fn line_done(&mut self, line: &[u8], out: &mut Vec<SseEvent>) {
        if line.is_empty() {
            if self.has_data {
                out.push(SseEvent {
                    event: self.event.take(),
                    data: std::mem::take(&mut self.data),
                });
                self.has_data = false;
            } else {
                self.event = None;
            }
            return;
        }
        if line[0] == b':' {
            return; // comment / keep-alive
        }
        let (field, value) = match line.iter().position(|&b| b == b':') {
            Some(i) => {
                let v = &line[i + 1..];
                (&line[..i], v.strip_prefix(b" ").unwrap_or(v))
            }
            None => (line, &b""[..]),
        };
        match field {
            b"data" => {
                if self.has_data {
                    self.data.push(b'\n');
                }
                self.data.extend_from_slice(value);
                self.has_data = true;
            }
            b"event" => self.event = Some(String::from_utf8_lossy(value).into_owned()),
            _ => {} // id, retry and unknown fields carry nothing the router needs
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn decode_in_pieces(input: &[u8], cuts: &[usize]) -> Vec<SseEvent> {
        let mut d = SseDecoder::new();
        let mut out = Vec::new();
        let mut start = 0;
        for &c in cuts {
            d.push(&input[start..c], &mut out);
            start = c;
        }
        d.push(&input[start..], &mut out);
        out
    }

    fn data(events: &[SseEvent]) -> Vec<String> {
        events
            .iter()
            .map(|e| String::from_utf8(e.data.clone()).unwrap())
            .collect()
    }

    const STREAM: &[u8] = b": keep-alive\n\ndata: {\"a\":1}\n\nevent: ping\ndata: x\r\n\r\ndata: line1\rdata: line2\r\rdata: [DONE]\n\n";

    #[test]
    fn decodes_whole_input() {
        let ev = decode_in_pieces(STREAM, &[]);
        assert_eq!(data(&ev), vec!["{\"a\":1}", "x", "line1\nline2", "[DONE]"]);
        assert_eq!(ev[1].event.as_deref(), Some("ping"));
        assert_eq!(ev[0].event, None);
    }

    #[test]
    fn every_split_point_gives_the_same_events() {
        let whole = decode_in_pieces(STREAM, &[]);
        for i in 0..=STREAM.len() {
            for j in i..=STREAM.len() {
                assert_eq!(decode_in_pieces(STREAM, &[i, j]), whole, "cuts at {i},{j}");
            }
        }
    }

    #[test]
    fn byte_by_byte() {
        let cuts: Vec<usize> = (1..STREAM.len()).collect();
        assert_eq!(
            decode_in_pieces(STREAM, &cuts),
            decode_in_pieces(STREAM, &[])
        );
    }

    #[test]
    fn unfinished_event_is_held_and_reported() {
        let mut d = SseDecoder::new();
        let mut out = Vec::new();
        d.push(b"data: {\"partial\"", &mut out);
        assert!(out.is_empty());
        assert!(d.has_partial());
        d.push(b":1}\n", &mut out);
        assert!(out.is_empty());
        assert!(d.has_partial());
        d.push(b"\n", &mut out);
        assert_eq!(data(&out), vec!["{\"partial\":1}"]);
        assert!(!d.has_partial());
    }

    #[test]
    fn field_without_space_and_without_colon() {
        let ev = decode_in_pieces(b"data:nospace\n\ndata\n\n", &[]);
        assert_eq!(data(&ev), vec!["nospace", ""]);
    }

    #[test]
    fn blank_lines_without_data_dispatch_nothing() {
        assert!(decode_in_pieces(b"\n\n\r\n\nid: 3\nretry: 10\n\n", &[]).is_empty());
    }

    #[test]
    fn an_empty_chunk_between_cr_and_lf_keeps_one_line_end() {
        let mut d = SseDecoder::new();
        let mut out = Vec::new();
        for c in [&b"data: x\r"[..], b"", b"\ndata: y\r\n\r\n"] {
            d.push(c, &mut out);
        }
        assert_eq!(out.len(), 1);
        assert_eq!(out[0].data, b"x\ny");
    }
}
