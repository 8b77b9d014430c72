//! A small HTTP/1.1 file server on 127.0.0.1 for tests: GET/HEAD, `Range`, `ETag` and
//! `If-None-Match`, an optional delay between chunks. Stops when dropped.

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

pub struct Server {
    pub port: u16,
    stop: Arc<AtomicBool>,
    pub requests: Arc<AtomicUsize>,
    /// Requests that asked for a byte range (resumed downloads).
    pub ranges: Arc<AtomicUsize>,
    pub files: Arc<Mutex<BTreeMap<String, Vec<u8>>>>,
    handle: Option<std::thread::JoinHandle<()>>,
}

impl Server {
    /// `delay`: pause after each 4 KiB chunk (for interruption tests).
    pub fn start(files: BTreeMap<String, Vec<u8>>, delay: Option<Duration>) -> Server {
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        l.set_nonblocking(true).unwrap();
        let port = l.local_addr().unwrap().port();
        let stop = Arc::new(AtomicBool::new(false));
        let requests = Arc::new(AtomicUsize::new(0));
        let ranges = Arc::new(AtomicUsize::new(0));
        let files = Arc::new(Mutex::new(files));
        let (s2, r2, f2, g2) = (
            stop.clone(),
            requests.clone(),
            files.clone(),
            ranges.clone(),
        );
        let handle = std::thread::spawn(move || {
            // Bounded: at most 10 minutes, then stop by itself.
            let deadline = std::time::Instant::now() + Duration::from_secs(600);
            while !s2.load(Ordering::Relaxed) && std::time::Instant::now() < deadline {
                match l.accept() {
                    Ok((c, _)) => {
                        let r3 = r2.clone();
                        let f3 = f2.clone();
                        let s3 = s2.clone();
                        let g3 = g2.clone();
                        std::thread::spawn(move || {
                            let _ = serve(c, &f3, delay, &s3, &g3, &r3);
                        });
                    }
                    Err(_) => std::thread::sleep(Duration::from_millis(10)),
                }
            }
        });
        Server {
            port,
            stop,
            requests,
            ranges,
            files,
            handle: Some(handle),
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!(
            "http://127.0.0.1:{}/{}",
            self.port,
            path.trim_start_matches('/')
        )
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(h) = self.handle.take() {
            let _ = h.join();
        }
    }
}

fn etag_of(data: &[u8]) -> String {
    use sha2::Digest;
    let h = sha2::Sha256::digest(data);
    format!("\"{:x}\"", h)
}

fn serve(
    c: TcpStream,
    files: &Mutex<BTreeMap<String, Vec<u8>>>,
    delay: Option<Duration>,
    stop: &AtomicBool,
    ranges: &AtomicUsize,
    requests: &AtomicUsize,
) -> std::io::Result<()> {
    c.set_nonblocking(false)?;
    c.set_read_timeout(Some(Duration::from_secs(30)))?;
    let mut r = BufReader::new(c.try_clone()?);
    let mut w = c;
    loop {
        let mut line = String::new();
        if r.read_line(&mut line)? == 0 {
            return Ok(());
        }
        requests.fetch_add(1, Ordering::Relaxed);
        let mut parts = line.split_whitespace();
        let method = parts.next().unwrap_or("").to_string();
        let path = parts.next().unwrap_or("/").to_string();
        let mut range: Option<u64> = None;
        let mut inm: Option<String> = None;
        loop {
            let mut h = String::new();
            r.read_line(&mut h)?;
            let h = h.trim_end();
            if h.is_empty() {
                break;
            }
            if let Some((k, v)) = h.split_once(':') {
                let v = v.trim();
                match k.to_ascii_lowercase().as_str() {
                    "range" => {
                        range = v
                            .strip_prefix("bytes=")
                            .and_then(|x| x.strip_suffix('-'))
                            .and_then(|x| x.parse().ok())
                    }
                    "if-none-match" => inm = Some(v.to_string()),
                    _ => {}
                }
            }
        }
        let key = path.trim_start_matches('/').to_string();
        let data = files.lock().unwrap().get(&key).cloned();
        let Some(data) = data else {
            write!(w, "HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n")?;
            continue;
        };
        let etag = etag_of(&data);
        if inm.as_deref() == Some(etag.as_str()) {
            write!(
                w,
                "HTTP/1.1 304 Not Modified\r\nETag: {etag}\r\nContent-Length: 0\r\n\r\n"
            )?;
            continue;
        }
        let start = range.unwrap_or(0).min(data.len() as u64) as usize;
        let body = &data[start..];
        if range.is_some() {
            ranges.fetch_add(1, Ordering::Relaxed);
            write!(
                w,
                "HTTP/1.1 206 Partial Content\r\nContent-Length: {}\r\nContent-Range: bytes {}-{}/{}\r\nETag: {etag}\r\n\r\n",
                body.len(),
                start,
                data.len().saturating_sub(1),
                data.len()
            )?;
        } else {
            write!(
                w,
                "HTTP/1.1 200 OK\r\nContent-Length: {}\r\nAccept-Ranges: bytes\r\nETag: {etag}\r\n\r\n",
                body.len()
            )?;
        }
        if method == "HEAD" {
            continue;
        }
        for chunk in body.chunks(4096) {
            if stop.load(Ordering::Relaxed) {
                return Ok(());
            }
            w.write_all(chunk)?;
            if let Some(d) = delay {
                w.flush()?;
                std::thread::sleep(d);
            }
        }
        w.flush()?;
    }
}
