//! The two derivations settings need: a crypt(3) hash of the user's password and the WPA
//! pre-shared key of a Wi-Fi passphrase.

use sha_crypt::{PasswordHasher, ShaCrypt};

/// `password` hashed with SHA-512-crypt (5000 rounds, a random 16-character salt): the
/// `$6$…` string `/etc/shadow` holds. Every Debian-based target's libcrypt verifies it.
///
/// The salt is 12 random bytes, 16 characters once encoded: glibc's crypt reads at most 16, so
/// a longer salt would give a hash no target could match.
pub(crate) fn sha512_crypt(password: &str) -> Result<String, String> {
    let mut salt = [0; 12];
    std::fs::File::open("/dev/urandom")
        .and_then(|mut random| std::io::Read::read_exact(&mut random, &mut salt))
        .map_err(|e| format!("cannot read /dev/urandom for a salt: {e}"))?;
    ShaCrypt::SHA512
        .hash_password_with_salt(password.as_bytes(), &salt)
        .map(|hash| hash.as_str().to_owned())
        .map_err(|e| format!("cannot hash the password: {e}"))
}

/// The WPA PSK of `passphrase` on network `ssid`: PBKDF2-HMAC-SHA1, 4096 rounds, 32 bytes
/// (IEEE 802.11i), what `wpa_passphrase` prints as `psk=`.
pub(crate) fn wpa_psk(passphrase: &str, ssid: &str) -> [u8; 32] {
    pbkdf2::pbkdf2_hmac_array::<sha1::Sha1, 32>(passphrase.as_bytes(), ssid.as_bytes(), 4096)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_psk_is_ieee_802_11i_s_test_vector() {
        // IEEE 802.11i-2004, H.4.3: passphrase "password", SSID "IEEE".
        let psk = wpa_psk("password", "IEEE");
        let hex: String = psk.iter().map(|b| format!("{b:02x}")).collect();
        assert_eq!(
            hex,
            "f42c6fc52df0ebef9ebb4b90b38a5f902e83fe1b135a70e23aed762e9710a12e"
        );
    }

    #[test]
    fn a_password_hash_is_sha512_crypt_with_a_fresh_salt() {
        let one = sha512_crypt("correct horse").unwrap();
        let two = sha512_crypt("correct horse").unwrap();
        let fields: Vec<&str> = one.split('$').collect();
        assert_eq!(fields[..3], ["", "6", "rounds=5000"], "{one}");
        assert_eq!(fields[3].len(), 16, "glibc reads 16 salt characters: {one}");
        assert_ne!(one, two, "the salt is not random");
    }
}
