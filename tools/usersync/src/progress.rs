//! Progress on stderr: an `indicatif` bar when stderr is a terminal, a plain line every
//! 5 seconds or 10 % when it is not (a log, CI), nothing with `--quiet`.

use std::io::IsTerminal;
use std::time::{Duration, Instant};

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

use crate::report::Summary;

/// How often a plain line is printed at most (besides every 10 %).
const LINE_EVERY: Duration = Duration::from_secs(5);

#[derive(Debug)]
enum Mode {
    Bar(ProgressBar),
    Lines { last: Instant, last_decile: u64 },
    Quiet,
}

/// The progress display.
#[derive(Debug)]
pub struct Progress {
    mode: Mode,
    total: u64,
    start: Instant,
}

/// The counts shown: `created 10, updated 0, failed 1`.
fn counts(s: &Summary) -> String {
    format!(
        "created {}, updated {}, deleted {}, failed {}",
        s.created, s.updated, s.deleted, s.failed
    )
}

impl Progress {
    /// A display of `total` rows: a bar on a terminal, lines otherwise, nothing when
    /// `quiet`.
    pub fn new(total: u64, quiet: bool) -> Self {
        let mode = if quiet {
            Mode::Quiet
        } else if std::io::stderr().is_terminal() {
            let bar = ProgressBar::with_draw_target(Some(total), ProgressDrawTarget::stderr());
            let style = ProgressStyle::with_template(
                "{elapsed_precise} [{wide_bar}] {human_pos}/{human_len} rows, ETA {eta}, {msg}",
            )
            .unwrap_or_else(|_| ProgressStyle::default_bar());
            bar.set_style(style.progress_chars("=> "));
            bar.enable_steady_tick(Duration::from_millis(500));
            Mode::Bar(bar)
        } else {
            Mode::Lines {
                last: Instant::now(),
                last_decile: 0,
            }
        };
        Self {
            mode,
            total,
            start: Instant::now(),
        }
    }

    /// Shows `done` rows and the counts so far.
    pub fn update(&mut self, done: u64, summary: &Summary) {
        let rate = self.rate(done);
        match &mut self.mode {
            Mode::Bar(bar) => {
                bar.set_position(done.min(self.total));
                bar.set_message(format!("{rate:.0} rows/s, {}", counts(summary)));
            }
            Mode::Lines { last, last_decile } => {
                let decile = (done * 10).checked_div(self.total).unwrap_or(10);
                if last.elapsed() >= LINE_EVERY || decile > *last_decile {
                    *last = Instant::now();
                    *last_decile = decile;
                    eprintln!("{}", self.line(done, summary));
                }
            }
            Mode::Quiet => {}
        }
    }

    /// Rows per second since the start.
    fn rate(&self, done: u64) -> f64 {
        done as f64 / self.start.elapsed().as_secs_f64().max(0.001)
    }

    /// A plain progress line.
    fn line(&self, done: u64, summary: &Summary) -> String {
        let rate = self.rate(done);
        let percent = (done * 100).checked_div(self.total).unwrap_or(100);
        format!(
            "usersync: {done}/{} rows ({percent}%), {rate:.0} rows/s, {}",
            self.total,
            counts(summary)
        )
    }

    /// Prints a message without breaking the bar (nothing when quiet).
    pub fn note(&self, message: &str) {
        match &self.mode {
            Mode::Bar(bar) => bar.suspend(|| eprintln!("usersync: {message}")),
            Mode::Lines { .. } => eprintln!("usersync: {message}"),
            Mode::Quiet => {}
        }
    }

    /// Removes the bar (the summary follows on stdout).
    pub fn finish(&mut self) {
        if let Mode::Bar(bar) = &self.mode {
            bar.finish_and_clear();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_lines_say_rows_rate_and_counts() {
        let p = Progress {
            mode: Mode::Quiet,
            total: 200,
            start: Instant::now(),
        };
        let s = Summary {
            created: 90,
            failed: 10,
            ..Summary::default()
        };
        let line = p.line(100, &s);
        assert!(line.starts_with("usersync: 100/200 rows (50%), "), "{line}");
        assert!(
            line.ends_with("rows/s, created 90, updated 0, deleted 0, failed 10"),
            "{line}"
        );
    }
}
