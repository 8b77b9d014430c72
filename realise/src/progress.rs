//! Progress reporting: `indicatif` bars on a terminal, plain log lines otherwise.

use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};
use std::io::IsTerminal;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::Duration;

/// Shared progress state for one realisation.
pub struct Progress {
    multi: Option<MultiProgress>,
    built: AtomicU64,
    downloaded: AtomicU64,
    bytes: AtomicU64,
    quiet: bool,
    lines: Mutex<()>,
}

/// One running activity (a build or a download).
pub struct Activity<'a> {
    progress: &'a Progress,
    bar: Option<ProgressBar>,
    name: String,
    last_bytes: AtomicU64,
    download: bool,
}

impl Progress {
    /// Bars when stderr is a terminal (and `quiet` is false), plain lines otherwise.
    pub fn new(quiet: bool) -> Progress {
        let tty = std::io::stderr().is_terminal() && std::env::var_os("CI").is_none();
        Progress {
            multi: if tty && !quiet {
                Some(MultiProgress::with_draw_target(ProgressDrawTarget::stderr()))
            } else {
                None
            },
            built: AtomicU64::new(0),
            downloaded: AtomicU64::new(0),
            bytes: AtomicU64::new(0),
            quiet,
            lines: Mutex::new(()),
        }
    }

    /// No output at all (library use, tests).
    pub fn silent() -> Progress {
        Progress {
            multi: None,
            built: AtomicU64::new(0),
            downloaded: AtomicU64::new(0),
            bytes: AtomicU64::new(0),
            quiet: true,
            lines: Mutex::new(()),
        }
    }

    /// Prints a line above the bars (or plainly).
    pub fn println(&self, msg: &str) {
        if self.quiet {
            return;
        }
        match &self.multi {
            Some(m) => {
                let _ = m.println(msg);
            }
            None => {
                let _g = self.lines.lock();
                rnix_util::errln!("{msg}");
            }
        }
    }

    /// Prints a line even when quiet (errors).
    pub fn eprintln(&self, msg: &str) {
        match &self.multi {
            Some(m) => {
                let _ = m.println(msg);
            }
            None => {
                let _g = self.lines.lock();
                rnix_util::errln!("{msg}");
            }
        }
    }

    fn activity(&self, name: &str, download: bool) -> Activity<'_> {
        let bar = self.multi.as_ref().map(|m| {
            let b = m.add(ProgressBar::new_spinner());
            let style = if download {
                "{spinner} {msg} {bytes} {bytes_per_sec}"
            } else {
                "{spinner} {msg} [{elapsed}]"
            };
            b.set_style(
                ProgressStyle::with_template(style)
                    .unwrap_or_else(|_| ProgressStyle::default_spinner()),
            );
            b.set_message(format!(
                "{} {name}",
                if download { "downloading" } else { "building" }
            ));
            b.enable_steady_tick(Duration::from_millis(200));
            b
        });
        if bar.is_none() {
            self.println(&format!(
                "{} '{name}'...",
                if download { "downloading" } else { "building" }
            ));
        }
        Activity {
            progress: self,
            bar,
            name: name.to_string(),
            last_bytes: AtomicU64::new(0),
            download,
        }
    }

    /// Starts a build activity.
    pub fn build(&self, drv: &str) -> Activity<'_> {
        self.activity(drv, false)
    }

    /// Starts a download activity.
    pub fn download(&self, url: &str) -> Activity<'_> {
        self.activity(url, true)
    }

    pub fn built_count(&self) -> u64 {
        self.built.load(Ordering::Relaxed)
    }
    pub fn downloaded_count(&self) -> u64 {
        self.downloaded.load(Ordering::Relaxed)
    }
    pub fn downloaded_bytes(&self) -> u64 {
        self.bytes.load(Ordering::Relaxed)
    }

    /// `N built, M downloaded, X MiB`.
    pub fn summary(&self) -> String {
        format!(
            "{} built, {} downloaded, {:.1} MiB",
            self.built_count(),
            self.downloaded_count(),
            self.downloaded_bytes() as f64 / (1024.0 * 1024.0)
        )
    }
}

impl Activity<'_> {
    /// Reports bytes transferred so far (and the total when known).
    pub fn bytes(&self, done: u64, total: Option<u64>) {
        let prev = self.last_bytes.swap(done, Ordering::Relaxed);
        if done > prev {
            self.progress
                .bytes
                .fetch_add(done - prev, Ordering::Relaxed);
        }
        if let Some(b) = &self.bar {
            if let Some(t) = total {
                if b.length() != Some(t) {
                    b.set_length(t);
                    b.set_style(
                        ProgressStyle::with_template(
                            "{spinner} {msg} {bytes}/{total_bytes} {bytes_per_sec}",
                        )
                        .unwrap_or_else(|_| ProgressStyle::default_spinner()),
                    );
                }
            }
            b.set_position(done);
        }
    }

    /// Marks the activity as done (counted in the summary).
    pub fn finish(self) {
        if self.download {
            self.progress.downloaded.fetch_add(1, Ordering::Relaxed);
        } else {
            self.progress.built.fetch_add(1, Ordering::Relaxed);
        }
        if let Some(b) = &self.bar {
            b.finish_and_clear();
        }
    }

    /// Ends the activity without counting it.
    pub fn fail(self) {
        if let Some(b) = &self.bar {
            b.finish_and_clear();
        }
        let _ = &self.name;
    }
}
