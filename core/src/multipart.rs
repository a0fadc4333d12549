//! Just enough of `multipart/form-data` to route an audio upload: find the text fields
//! (`model`) and check that a file is there, without copying the file. The body is forwarded
//! as sent, with only the `model` value replaced by the deployment's.

use crate::error::Error;

/// Where things are in a multipart body.
#[derive(Debug, Clone, PartialEq)]
pub struct Form {
    pub boundary: String,
    /// Byte range of the `model` field's value.
    pub model: Option<(usize, usize)>,
    pub has_file: bool,
}

fn bad(message: &str) -> Error {
    Error::InvalidRequest {
        message: message.to_string(),
        param: None,
        code: Some("invalid_multipart"),
    }
}

/// The boundary of a `multipart/form-data` content type.
pub fn boundary(content_type: &str) -> Option<String> {
    let (kind, params) = content_type.split_once(';')?;
    if !kind.trim().eq_ignore_ascii_case("multipart/form-data") {
        return None;
    }
    params.split(';').find_map(|p| {
        let (k, v) = p.split_once('=')?;
        k.trim()
            .eq_ignore_ascii_case("boundary")
            .then(|| v.trim().trim_matches('"').to_string())
            .filter(|b| !b.is_empty())
    })
}

fn find(hay: &[u8], needle: &[u8], from: usize) -> Option<usize> {
    if needle.is_empty() || from >= hay.len() {
        return None;
    }
    let first = needle[0];
    let mut i = from;
    while i + needle.len() <= hay.len() {
        match hay[i..].iter().position(|&b| b == first) {
            None => return None,
            Some(off) => {
                i += off;
                if hay[i..].starts_with(needle) {
                    return Some(i);
                }
                i += 1;
            }
        }
    }
    None
}

/// Finds the fields of a form.
pub fn parse(content_type: &str, body: &[u8]) -> Result<Form, Error> {
    let boundary = boundary(content_type)
        .ok_or_else(|| bad("This endpoint takes multipart/form-data with a boundary."))?;
    let delim = format!("--{boundary}");
    let mut form = Form {
        boundary: boundary.clone(),
        model: None,
        has_file: false,
    };
    let mut pos =
        find(body, delim.as_bytes(), 0).ok_or_else(|| bad("The multipart body has no parts."))?;
    loop {
        let after = pos + delim.len();
        if body[after..].starts_with(b"--") {
            break; // closing delimiter
        }
        let headers_start = after + 2; // CRLF
        let headers_end = find(body, b"\r\n\r\n", headers_start)
            .ok_or_else(|| bad("A multipart part has no end of headers."))?;
        let headers =
            String::from_utf8_lossy(&body[headers_start..headers_end]).to_ascii_lowercase();
        let content_start = headers_end + 4;
        let next = find(body, format!("\r\n{delim}").as_bytes(), content_start)
            .ok_or_else(|| bad("The multipart body is cut (no closing boundary)."))?;
        if headers.contains("filename=") {
            form.has_file = true;
        } else if headers.contains("name=\"model\"") {
            form.model = Some((content_start, next));
        }
        pos = next + 2;
    }
    Ok(form)
}

/// The body with the `model` field's value replaced.
pub fn with_model(body: &[u8], form: &Form, model: &str) -> Vec<u8> {
    match form.model {
        Some((start, end)) => {
            let mut out = Vec::with_capacity(body.len() + model.len());
            out.extend_from_slice(&body[..start]);
            out.extend_from_slice(model.as_bytes());
            out.extend_from_slice(&body[end..]);
            out
        }
        None => body.to_vec(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> (String, Vec<u8>) {
        let b = "----x7";
        let body = format!(
            "--{b}\r\nContent-Disposition: form-data; name=\"model\"\r\n\r\nwhisper\r\n--{b}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"a.mp3\"\r\nContent-Type: audio/mpeg\r\n\r\nID3\x00\x01\r\nbinary\r\n--{b}\r\nContent-Disposition: form-data; name=\"language\"\r\n\r\nen\r\n--{b}--\r\n"
        );
        (
            format!("multipart/form-data; boundary={b}"),
            body.into_bytes(),
        )
    }

    #[test]
    fn finds_the_model_and_the_file() {
        let (ct, body) = sample();
        let f = parse(&ct, &body).unwrap();
        let (s, e) = f.model.unwrap();
        assert_eq!(&body[s..e], b"whisper");
        assert!(f.has_file);
        let out = with_model(&body, &f, "whisper-1");
        let again = parse(&ct, &out).unwrap();
        let (s, e) = again.model.unwrap();
        assert_eq!(&out[s..e], b"whisper-1");
        assert_eq!(out.len(), body.len() + 2);
        assert!(
            out.windows(6).any(|w| w == b"binary"),
            "the file is untouched"
        );
    }

    #[test]
    fn boundaries_and_bad_bodies() {
        assert_eq!(
            boundary("multipart/form-data; boundary=\"abc\"").as_deref(),
            Some("abc")
        );
        assert_eq!(boundary("application/json"), None);
        assert!(parse("application/json", b"{}").is_err());
        let (ct, body) = sample();
        assert!(parse(&ct, &body[..body.len() - 20]).is_err(), "cut body");
        assert!(parse(&ct, b"no parts here").is_err());
    }
}
