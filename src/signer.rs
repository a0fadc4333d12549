//! The RS256 signer port over the platform's WebCrypto (`crypto.subtle`, RSASSA-PKCS1-v1_5
//! with SHA-256): one [`Kind::Sign`] operation per signature (a service account's JWT, about
//! once an hour per account), so the Worker carries no big-integer arithmetic of its own.

use crate::host::executor::{Op, Reply};
use crate::host::wire::Kind;
use switchyard_core::ports::{LocalFuture, Rs256Signer};

pub struct WebCryptoSigner;

impl Rs256Signer for WebCryptoSigner {
    fn sign(&self, pkcs8: &[u8], message: &[u8]) -> LocalFuture<Result<Vec<u8>, String>> {
        let (key, message) = (pkcs8.to_vec(), message.to_vec());
        Box::pin(async move {
            let op = Op::new(|o, id, _| {
                o.kind(Kind::Sign).u32(id).bytes(&key).bytes(&message);
            });
            match op.await {
                Reply::Done { bytes, .. } => Ok(bytes),
                Reply::Failed(m) => Err(m),
                Reply::Stream { .. } => Err("a streamed signature".into()),
            }
        })
    }
}
