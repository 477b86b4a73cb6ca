//! Fuzz the signature reader (`airlock verify`): any bytes as a bundle, and
//! as a signed statement, give a result or an error, never a panic; a
//! bundle never verifies with a key that did not sign it.
#![no_main]

use airlock_sign::keys::PublicKey;
use airlock_sign::statement::parse;
use airlock_sign::verify::{Trust, check_bundle};
use libfuzzer_sys::fuzz_target;

/// A P-256 public key whose private half was thrown away when it was made
/// (openssl ecparam -genkey): nothing is signed with it, so no input may
/// verify (the seeds include real signatures by the fixture keys).
const KEY: &str = "-----BEGIN PUBLIC KEY-----\nMFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAEvemSjWny6YWRzjhz7wGj1Fq/rFtr\nsQCqSkQDs7+PjxOVAlQFsIBfTLsp3D63jHh+OxI0uKXuy40e2eTaUQJVsg==\n-----END PUBLIC KEY-----\n";

fuzz_target!(|data: &[u8]| {
    let key = PublicKey::from_pem(KEY).expect("fixture key");
    assert!(check_bundle(data, &Trust::Key(key)).is_err());
    if let Ok(signed) = parse(data) {
        let _ = signed.manifest.root_digest();
    }
});
