//! The real Debian archive keyring verifies the real `InRelease` files of the configured
//! mirrors. Needs the network: runs when `RNIX_ONLINE_TESTS=1` or `CI` is set (and then
//! fails loudly if it cannot); otherwise it is skipped with a printed reason.

use std::time::SystemTime;

use pkgset::lock::debian::{parse_release, SUITES};
use pkgset::lock::http::{join, Http};
use pkgset::lock::mirrors::debian_mirrors;
use pkgset::lock::openpgp::Keyring;
use pkgset::lock::update::DEFAULT_KEYRING;

#[test]
fn real_keyring_verifies_real_inrelease() {
    let online = std::env::var("RNIX_ONLINE_TESTS").is_ok_and(|v| v == "1")
        || std::env::var_os("CI").is_some();
    if !online {
        eprintln!("skipped: set RNIX_ONLINE_TESTS=1 to check real InRelease files against the Debian keyring");
        return;
    }
    let keyring_path = std::env::var("RNIX_DEBIAN_KEYRING").unwrap_or(DEFAULT_KEYRING.to_string());
    let keyring = Keyring::load(std::path::Path::new(&keyring_path))
        .expect("the Debian archive keyring (package debian-archive-keyring) is needed");
    let mirrors = debian_mirrors().expect("a Debian mirror must be configured");
    let http = Http::new();
    for (suite, archive) in SUITES {
        let url = join(
            mirrors.for_archive(archive),
            &format!("dists/{suite}/InRelease"),
        );
        let raw = http
            .get(&url, None, "InRelease")
            .expect("fetching InRelease");
        let raw = String::from_utf8(raw).unwrap();
        let text = keyring
            .verify_clearsigned(&raw, SystemTime::now())
            .unwrap_or_else(|e| panic!("{url}: {e:#}"));
        let rel = parse_release(&text).unwrap();
        assert!(
            rel.sha256.contains_key("main/binary-amd64/Packages.xz"),
            "{url}"
        );
        // Debian's archive keys expire: far in the future the same file is refused
        let later = SystemTime::UNIX_EPOCH + std::time::Duration::from_secs(2_840_000_000); // 2060
        let e = keyring
            .verify_clearsigned(&raw, later)
            .unwrap_err()
            .to_string();
        assert!(e.contains("expired"), "{url}: {e}");
        // one changed byte in the signed text breaks the signature
        let evil = raw.replacen(
            "main/binary-amd64/Packages.xz",
            "main/binary-amd64/Packages.xy",
            1,
        );
        assert!(
            keyring
                .verify_clearsigned(&evil, SystemTime::now())
                .is_err(),
            "{url}"
        );
    }
}
