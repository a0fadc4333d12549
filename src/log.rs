//! Log lines, written as instructions: JavaScript prints them with `console`.

use crate::host::executor::emit;
use crate::host::wire::Kind;

fn line(level: u8, text: &str) {
    emit(|o| {
        o.kind(Kind::Log).u8(level).text(text);
    });
}

pub fn info(text: &str) {
    line(0, text);
}

pub fn warn(text: &str) {
    line(1, text);
}

pub fn error(text: &str) {
    line(2, text);
}
