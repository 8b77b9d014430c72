//! Minimal blocking HTTP(S) client used by the updater (proxy from the environment,
//! system CA certificates), and `file://` URLs for local mirrors.

use std::io::Read;
use std::time::Duration;

use super::error::LockError;

pub struct Http {
    agent: ureq::Agent,
}

impl Default for Http {
    fn default() -> Self {
        Self::new()
    }
}

impl Http {
    pub fn new() -> Self {
        let agent = ureq::AgentBuilder::new()
            .try_proxy_from_env(true)
            .timeout_connect(Duration::from_secs(30))
            .timeout_read(Duration::from_secs(180))
            .user_agent("rnix-update-lock")
            .build();
        Http { agent }
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
        // transient failures (connection errors, 5xx) are retried a few times
        let mut attempt = 0;
        let result = loop {
            attempt += 1;
            let mut req = self.agent.get(url);
            if let Some(a) = accept {
                req = req.set("Accept", a);
            }
            let r = req.call();
            let transient = match &r {
                Err(ureq::Error::Transport(_)) => true,
                Err(ureq::Error::Status(s, _)) => *s >= 500,
                Ok(_) => false,
            };
            if !transient || attempt >= 3 {
                break r;
            }
            std::thread::sleep(Duration::from_secs(attempt));
        };
        match result {
            Ok(resp) => {
                let mut buf = Vec::new();
                resp.into_reader()
                    .take(2 << 30)
                    .read_to_end(&mut buf)
                    .map_err(|e| LockError::Transport {
                        url: url.to_string(),
                        msg: e.to_string(),
                    })?;
                Ok(buf)
            }
            Err(ureq::Error::Status(404, _)) | Err(ureq::Error::Status(410, _)) => {
                Err(LockError::NotOnMirror {
                    what: what.to_string(),
                    url: url.to_string(),
                })
            }
            Err(ureq::Error::Status(status, _)) => Err(LockError::Http {
                url: url.to_string(),
                status,
            }),
            Err(e) => Err(LockError::Transport {
                url: url.to_string(),
                msg: e.to_string(),
            }),
        }
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
