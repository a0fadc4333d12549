//! Randomness from the platform's secure source (`crypto.getRandomValues`).

/// A virtual key: `sk-` and 48 hex digits.
pub fn new_key() -> Option<String> {
    let mut buf = [0u8; 24];
    // No entropy: no key, rather than a guessable one.
    getrandom::fill(&mut buf).ok()?;
    let hex: String = buf.iter().map(|b| format!("{b:02x}")).collect();
    Some(format!("sk-{hex}"))
}

/// The router's seed.
pub fn seed() -> u64 {
    let mut buf = [0u8; 8];
    match getrandom::fill(&mut buf) {
        Ok(()) => u64::from_le_bytes(buf),
        // No entropy source: the clock still spreads isolates apart.
        Err(_) => crate::host::executor::now().to_bits(),
    }
}
