//! Minimal blocking HTTP(S) client used by the updater (proxy from the environment,
//! system CA certificates), and `file://` URLs for local mirrors.

use std::io::Read;
use std::time::Duration;

use super::error::LockError;

pub struct Http {
    client: reqwest::blocking::Client,
}

impl Default for Http {
    fn default() -> Self {
        Self::new()
    }
}

impl Http {
    pub fn new() -> Self {
        // reqwest reads HTTP(S)_PROXY / NO_PROXY from the environment by default.
        let client = reqwest::blocking::Client::builder()
            .connect_timeout(Duration::from_secs(30))
            .timeout(Duration::from_secs(600))
            .user_agent("rnix-update-lock")
            .build()
            .unwrap_or_else(|_| reqwest::blocking::Client::new());
        Http { client }
    }

    /// GET `url`; `what` names the object in errors (e.g. "libc6 2.36-9 (pool/…/libc6….deb)").
    pub fn get(&self, url: &str, accept: Option<&str>, what: &str) -> Result<Vec<u8>, LockError> {
        if let Some(path) = url.strip_prefix("file://") {
            return match std::fs::read(path) {
                Ok(b) => Ok(b),
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => Err(LockError::NotOnMirror {
                    what: what.to_string(),
                    url: url.to_string(),
                }),
                Err(e) => Err(LockError::Transport {
                    url: url.to_string(),
                    msg: e.to_string(),
                }),
            };
        }
        let transport = |e: &dyn std::fmt::Display| LockError::Transport {
            url: url.to_string(),
            msg: e.to_string(),
        };
        // transient failures (connection errors, 5xx) are retried a few times
        let mut attempt = 0;
        let resp = loop {
            attempt += 1;
            let mut req = self.client.get(url);
            if let Some(a) = accept {
                req = req.header("Accept", a);
            }
            let r = req.send();
            let transient = match &r {
                Err(_) => true,
                Ok(resp) => resp.status().is_server_error(),
            };
            if !transient || attempt >= 3 {
                break r.map_err(|e| transport(&e))?;
            }
            std::thread::sleep(Duration::from_secs(attempt));
        };
        let status = resp.status().as_u16();
        if status == 404 || status == 410 {
            return Err(LockError::NotOnMirror {
                what: what.to_string(),
                url: url.to_string(),
            });
        }
        if !resp.status().is_success() {
            return Err(LockError::Http {
                url: url.to_string(),
                status,
            });
        }
        let mut buf = Vec::new();
        resp.take(2 << 30)
            .read_to_end(&mut buf)
            .map_err(|e| transport(&e))?;
        Ok(buf)
    }
}

/// Joins a base URL and a relative path with exactly one `/`.
pub fn join(base: &str, rel: &str) -> String {
    format!(
        "{}/{}",
        base.trim_end_matches('/'),
        rel.trim_start_matches('/')
    )
}
