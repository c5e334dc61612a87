//! The run's stop signal: Ctrl-C/SIGTERM, or a failure that makes every further request
//! pointless (401/403, the server unreachable). The first reason wins.

use std::sync::Arc;

use tokio::sync::watch;

/// Why the run stops early.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum StopReason {
    /// SIGINT or SIGTERM.
    Interrupted,
    /// The server refused the token (401/403); the text says how.
    Auth(String),
    /// The server could not be reached after the retries.
    Connect(String),
    /// The input could not be read again as it was validated.
    Input(String),
}

/// A cloneable handle on the stop signal.
#[derive(Clone, Debug)]
pub struct Stop {
    tx: Arc<watch::Sender<Option<StopReason>>>,
}

impl Default for Stop {
    fn default() -> Self {
        Self::new()
    }
}

impl Stop {
    /// A signal not yet given.
    pub fn new() -> Self {
        Self {
            tx: Arc::new(watch::Sender::new(None)),
        }
    }

    /// Gives the signal, unless it was given already (the first reason is kept).
    pub fn stop(&self, reason: StopReason) {
        self.tx.send_if_modified(|current| {
            if current.is_some() {
                return false;
            }
            *current = Some(reason);
            true
        });
    }

    /// Why the run stops, if it does.
    pub fn reason(&self) -> Option<StopReason> {
        self.tx.borrow().clone()
    }

    /// Whether the signal was given.
    pub fn is_stopped(&self) -> bool {
        self.tx.borrow().is_some()
    }

    /// Waits for the signal.
    pub async fn wait(&self) {
        let mut rx = self.tx.subscribe();
        // The sender lives as long as `self`, so this cannot fail.
        let _ = rx.wait_for(Option::is_some).await;
    }

    /// Sleeps for `duration`; `false` when the signal came first.
    pub async fn sleep(&self, duration: std::time::Duration) -> bool {
        tokio::select! {
            () = tokio::time::sleep(duration) => !self.is_stopped(),
            () = self.wait() => false,
        }
    }
}

/// Listens for SIGINT and SIGTERM: the first stops the run (requests in flight are given a
/// moment, the state is recorded, the summary printed, exit 130); a second one exits at
/// once with 130 (what was confirmed is already in the state file).
pub fn listen_for_signals(stop: Stop) {
    tokio::spawn(async move {
        #[cfg(unix)]
        let mut term =
            tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()).ok();
        let mut signals = 0u32;
        loop {
            #[cfg(unix)]
            let terminated = async {
                match term.as_mut() {
                    Some(t) => {
                        t.recv().await;
                    }
                    None => std::future::pending::<()>().await,
                }
            };
            #[cfg(not(unix))]
            let terminated = std::future::pending::<()>();
            tokio::select! {
                r = tokio::signal::ctrl_c() => {
                    if r.is_err() {
                        return;
                    }
                }
                () = terminated => {}
            }
            signals += 1;
            if signals > 1 {
                eprintln!("usersync: interrupted again, exiting now");
                std::process::exit(130);
            }
            eprintln!(
                "usersync: interrupted; finishing the requests in flight (interrupt again to quit at once)"
            );
            stop.stop(StopReason::Interrupted);
        }
    });
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[tokio::test]
    async fn the_first_reason_wins_and_waiters_wake() {
        let stop = Stop::new();
        assert!(!stop.is_stopped());
        let waiter = {
            let stop = stop.clone();
            tokio::spawn(async move { stop.wait().await })
        };
        stop.stop(StopReason::Auth("401".into()));
        stop.stop(StopReason::Interrupted);
        waiter.await.unwrap();
        assert_eq!(stop.reason(), Some(StopReason::Auth("401".into())));
        assert!(!stop.sleep(Duration::from_secs(30)).await);
    }

    #[tokio::test]
    async fn sleep_runs_out_when_nothing_stops() {
        let stop = Stop::new();
        assert!(stop.sleep(Duration::from_millis(5)).await);
    }
}
