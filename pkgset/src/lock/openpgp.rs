//! Verification of clearsigned `InRelease` files against an OpenPGP keyring (rpgp).
//!
//! rpgp's `SignedPublicKey::verify_bindings()` rejects Debian's archive certificates
//! (they carry third-party certifications), so validity is checked here: the primary key
//! must not be revoked or expired (self-signature on a user ID or a direct-key signature),
//! a subkey must have a valid binding signature from its primary key (with back-signature
//! for signing subkeys) and must not be expired.

use std::io::{BufReader, Cursor};
use std::path::Path;
use std::time::{Duration, SystemTime};

use anyhow::{anyhow, bail, Context, Result};
use pgp::composed::{CleartextSignedMessage, Deserializable, SignedPublicKey};
use pgp::packet::{Signature, SignatureType};
use pgp::types::{KeyDetails, Timestamp, VerifyingKey};

pub struct Keyring {
    pub keys: Vec<SignedPublicKey>,
}

fn ts(t: Timestamp) -> SystemTime {
    t.into()
}

impl Keyring {
    /// Loads a binary (`.gpg`) or ASCII-armored keyring.
    pub fn from_bytes(bytes: &[u8]) -> Result<Self> {
        let keys: Vec<SignedPublicKey> = if bytes.starts_with(b"-----BEGIN") {
            let (it, _) = SignedPublicKey::from_armor_many(Cursor::new(bytes.to_vec()))?;
            it.collect::<Result<_, _>>()?
        } else {
            SignedPublicKey::from_bytes_many(BufReader::new(Cursor::new(bytes.to_vec())))?
                .collect::<Result<_, _>>()?
        };
        if keys.is_empty() {
            bail!("the keyring holds no OpenPGP certificate");
        }
        Ok(Keyring { keys })
    }

    pub fn load(path: &Path) -> Result<Self> {
        let b =
            std::fs::read(path).with_context(|| format!("reading keyring {}", path.display()))?;
        Self::from_bytes(&b).with_context(|| format!("parsing keyring {}", path.display()))
    }

    /// Verifies a clearsigned document; returns its text (LF line ends) when at least one
    /// signature verifies with a valid key of the keyring at time `now`.
    pub fn verify_clearsigned(&self, armored: &str, now: SystemTime) -> Result<String> {
        let (msg, _) = CleartextSignedMessage::from_string(armored)
            .map_err(|e| anyhow!("not a clearsigned OpenPGP message: {e}"))?;
        let text = msg.signed_text();
        let mut reasons = Vec::new();
        for sig in msg.signatures() {
            match self.verify_one(sig, text.as_bytes(), now) {
                Ok(()) => return Ok(text.replace("\r\n", "\n")),
                Err(e) => reasons.push(e.to_string()),
            }
        }
        if reasons.is_empty() {
            bail!("the message carries no signature");
        }
        bail!("no valid signature: {}", reasons.join("; "))
    }

    fn verify_one(&self, sig: &Signature, data: &[u8], now: SystemTime) -> Result<()> {
        if let (Some(c), Some(exp)) = (
            sig.created(),
            sig.signature_expiration_time().map(Duration::from),
        ) {
            if !exp.is_zero() && ts(c) + exp < now {
                bail!("the signature expired");
            }
        }
        let issuer_ids: Vec<String> = sig
            .issuer_key_id()
            .iter()
            .map(|k| format!("{k:?}").to_lowercase())
            .collect();
        let issuer_fps: Vec<String> = sig
            .issuer_fingerprint()
            .iter()
            .map(|f| format!("{f:?}").to_lowercase())
            .collect();
        let matches = |k: &dyn KeyDetails| {
            let id = format!("{:?}", k.legacy_key_id()).to_lowercase();
            let fp = format!("{:?}", k.fingerprint()).to_lowercase();
            issuer_ids.contains(&id) || issuer_fps.contains(&fp)
        };
        let mut last_err = None;
        for key in &self.keys {
            let primary_ok = primary_valid(key, now);
            if matches(&key.primary_key) {
                match &primary_ok {
                    Ok(()) => match sig.verify(&key.primary_key, data) {
                        Ok(()) => return Ok(()),
                        Err(e) => last_err = Some(anyhow!("bad signature by primary key: {e}")),
                    },
                    Err(e) => last_err = Some(anyhow!("{e}")),
                }
            }
            for sub in &key.public_subkeys {
                if !matches(&sub.key) {
                    continue;
                }
                let r = primary_ok
                    .as_ref()
                    .map_err(|e| anyhow!("{e}"))
                    .and_then(|_| {
                        subkey_valid(key, sub, now)?;
                        sig.verify(&sub.key, data)
                            .map_err(|e| anyhow!("bad signature by subkey: {e}"))
                    });
                match r {
                    Ok(()) => return Ok(()),
                    Err(e) => last_err = Some(e),
                }
            }
        }
        Err(last_err.unwrap_or_else(|| {
            anyhow!(
                "signing key {} is not in the keyring",
                issuer_fps
                    .first()
                    .or(issuer_ids.first())
                    .cloned()
                    .unwrap_or_default()
            )
        }))
    }
}

fn expired(created: Timestamp, validity: Option<Duration>, now: SystemTime) -> bool {
    match validity {
        Some(d) if !d.is_zero() => ts(created) + d < now,
        _ => false,
    }
}

fn primary_valid(key: &SignedPublicKey, now: SystemTime) -> Result<()> {
    let pk = &key.primary_key;
    let fp = format!("{:?}", pk.fingerprint());
    for rev in &key.details.revocation_signatures {
        if rev.verify_key(pk).is_ok() {
            bail!("key {fp} is revoked");
        }
    }
    // The newest valid self-signature (user-ID certification or direct-key) sets the
    // expiration time of the primary key.
    let pk_id = format!("{:?}", pk.legacy_key_id()).to_lowercase();
    let pk_fp = format!("{:?}", pk.fingerprint()).to_lowercase();
    let by_self = |s: &Signature| {
        s.issuer_key_id()
            .iter()
            .any(|k| format!("{k:?}").to_lowercase() == pk_id)
            || s.issuer_fingerprint()
                .iter()
                .any(|f| format!("{f:?}").to_lowercase() == pk_fp)
    };
    let mut valid: Vec<&Signature> = Vec::new();
    for u in &key.details.users {
        for s in &u.signatures {
            if by_self(s)
                && s.verify_certification(pk, pgp::types::Tag::UserId, &u.id)
                    .is_ok()
            {
                valid.push(s);
            }
        }
    }
    for s in &key.details.direct_signatures {
        if by_self(s) && s.verify_key(pk).is_ok() {
            valid.push(s);
        }
    }
    let found = !valid.is_empty();
    let newest = valid.into_iter().max_by_key(|s| s.created());
    if !found {
        bail!("key {fp} has no valid self-signature");
    }
    if let Some(s) = newest {
        if expired(
            pk.created_at(),
            s.key_expiration_time().map(Duration::from),
            now,
        ) {
            bail!("key {fp} is expired");
        }
    }
    Ok(())
}

fn subkey_valid(
    key: &SignedPublicKey,
    sub: &pgp::composed::SignedPublicSubKey,
    now: SystemTime,
) -> Result<()> {
    let fp = format!("{:?}", sub.key.fingerprint());
    let mut best: Option<&Signature> = None;
    for s in &sub.signatures {
        if s.typ() == Some(SignatureType::SubkeyRevocation)
            && s.verify_subkey_binding(&key.primary_key, &sub.key).is_ok()
        {
            bail!("subkey {fp} is revoked");
        }
    }
    for s in &sub.signatures {
        if s.typ() != Some(SignatureType::SubkeyBinding) {
            continue;
        }
        if s.verify_subkey_binding(&key.primary_key, &sub.key).is_err() {
            continue;
        }
        if s.key_flags().sign() {
            let Some(back) = s.embedded_signature() else {
                continue;
            };
            if back
                .verify_primary_key_binding(&sub.key, &key.primary_key)
                .is_err()
            {
                continue;
            }
        } else {
            // a subkey without the signing flag may not sign
            continue;
        }
        if best.is_none_or(|b| s.created() > b.created()) {
            best = Some(s);
        }
    }
    let Some(b) = best else {
        bail!("subkey {fp} has no valid binding signature for signing");
    };
    if expired(
        sub.key.created_at(),
        b.key_expiration_time().map(Duration::from),
        now,
    ) {
        bail!("subkey {fp} is expired");
    }
    Ok(())
}

/// Kept for callers that hold only a verifying key (tests).
pub fn verify_with(msg: &str, key: &impl VerifyingKey) -> Result<String> {
    let (m, _) = CleartextSignedMessage::from_string(msg)?;
    m.verify(key)?;
    Ok(m.signed_text().replace("\r\n", "\n"))
}
