//! Fuzz the signature reader (`airlock verify`): any bytes as a bundle, and
//! as a signed statement, give a result or an error, never a panic; a
//! bundle never verifies with a key that did not sign it.
#![no_main]

use airlock_sign::keys::PublicKey;
use airlock_sign::statement::parse;
use airlock_sign::verify::{Trust, check_bundle};
use libfuzzer_sys::fuzz_target;

/// A P-384 key no fuzz input is signed with (scripts/gen_signing_fixtures.py).
const KEY: &str = include_str!("../../tests/fixtures/signing/keys/p384.pub.pem");

fuzz_target!(|data: &[u8]| {
    let key = PublicKey::from_pem(KEY).expect("fixture key");
    assert!(check_bundle(data, &Trust::Key(key)).is_err());
    if let Ok(signed) = parse(data) {
        let _ = signed.manifest.root_digest();
    }
});
