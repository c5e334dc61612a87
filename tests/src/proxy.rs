//! A TCP proxy in front of DynamoDB Local that can fail the way a network and a server
//! do: stop forwarding mid-request (a stalled server or a partition: connections stay
//! open, nothing comes back), or drop every connection and refuse new ones for a while (a
//! server killed and restarted). The functions under test talk to DynamoDB through it,
//! so their deadlines are tested against real stalls, not only against SDK mocks.
//!
//! Only the client-to-server direction is held: a request that reached DynamoDB before
//! the stall is answered, one that did not is never applied. What a test reads back from
//! the table is then the truth the answer must tell.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;

/// What the proxy does with traffic.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mode {
    /// Forward both ways.
    Forward,
    /// Hold every byte sent to DynamoDB (connections stay open).
    Stall,
    /// Close every connection and refuse new ones.
    Down,
}

/// A running proxy; dropping it stops it.
pub struct Proxy {
    addr: SocketAddr,
    mode: watch::Sender<Mode>,
    requests: Arc<AtomicU64>,
    stall_after: Arc<AtomicU64>,
    armed: Arc<AtomicBool>,
    task: tokio::task::JoinHandle<()>,
}

impl Proxy {
    /// A proxy to `upstream` (`http://host:port`) on a free local port.
    pub async fn start(upstream: &str) -> Self {
        let upstream: SocketAddr = upstream
            .trim_start_matches("http://")
            .trim_end_matches('/')
            .parse()
            .expect("DynamoDB Local endpoint as http://ip:port");
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind proxy");
        let addr = listener.local_addr().expect("proxy address");
        let (mode, watch_mode) = watch::channel(Mode::Forward);
        let requests = Arc::new(AtomicU64::new(0));
        let stall_after = Arc::new(AtomicU64::new(u64::MAX));
        let armed = Arc::new(AtomicBool::new(false));
        let shared = Shared {
            mode: Arc::new(mode.clone()),
            requests: requests.clone(),
            stall_after: stall_after.clone(),
            armed: armed.clone(),
        };
        let task = tokio::spawn(async move {
            loop {
                let Ok((client, _)) = listener.accept().await else {
                    continue;
                };
                if *watch_mode.borrow() == Mode::Down {
                    drop(client);
                    continue;
                }
                let watch_mode = watch_mode.clone();
                let shared = shared.clone();
                tokio::spawn(async move {
                    if let Ok(server) = TcpStream::connect(upstream).await {
                        pipe(client, server, watch_mode, shared).await;
                    }
                });
            }
        });
        Self {
            addr,
            mode,
            requests,
            stall_after,
            armed,
            task,
        }
    }

    /// The endpoint to give the SDK (`http://127.0.0.1:<port>`).
    pub fn endpoint(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Switches the mode now.
    pub fn set(&self, mode: Mode) {
        self.mode.send_replace(mode);
    }

    /// Stalls once `n` more HTTP requests have been forwarded (counted by request line),
    /// in the middle of the request after them: the stall lands mid-operation.
    pub fn stall_after_requests(&self, n: u64) {
        let seen = self.requests.load(Ordering::SeqCst);
        self.stall_after.store(seen + n, Ordering::SeqCst);
        self.armed.store(true, Ordering::SeqCst);
    }

    /// Waits until the proxy is in `mode` (e.g. until an armed stall happened).
    pub async fn wait_for(&self, mode: Mode) {
        let mut rx = self.mode.subscribe();
        while *rx.borrow_and_update() != mode {
            if rx.changed().await.is_err() {
                return;
            }
        }
    }

    /// HTTP requests forwarded so far.
    pub fn requests(&self) -> u64 {
        self.requests.load(Ordering::SeqCst)
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        self.task.abort();
        self.mode.send_replace(Mode::Down);
    }
}

#[derive(Clone)]
struct Shared {
    mode: Arc<watch::Sender<Mode>>,
    requests: Arc<AtomicU64>,
    stall_after: Arc<AtomicU64>,
    armed: Arc<AtomicBool>,
}

impl Shared {
    /// Counts the requests starting in `chunk` and stalls when the armed count is
    /// reached. Returns whether the chunk may be forwarded.
    fn forward(&self, chunk: &[u8]) -> bool {
        let starts = chunk.windows(5).filter(|w| *w == b"POST ").count() as u64;
        if starts > 0 {
            let total = self.requests.fetch_add(starts, Ordering::SeqCst) + starts;
            if self.armed.load(Ordering::SeqCst) && total > self.stall_after.load(Ordering::SeqCst)
            {
                self.armed.store(false, Ordering::SeqCst);
                self.mode.send_replace(Mode::Stall);
            }
        }
        *self.mode.borrow() == Mode::Forward
    }
}

async fn pipe(
    client: TcpStream,
    server: TcpStream,
    mut mode: watch::Receiver<Mode>,
    shared: Shared,
) {
    let (mut client_read, mut client_write) = client.into_split();
    let (mut server_read, mut server_write) = server.into_split();
    let mut down = mode.clone();
    let upstream = async {
        let mut buf = vec![0u8; 64 * 1024];
        loop {
            let n = match client_read.read(&mut buf).await {
                Ok(0) | Err(_) => return,
                Ok(n) => n,
            };
            if !shared.forward(&buf[..n]) {
                // Hold the bytes until the proxy forwards again (or goes down).
                loop {
                    if mode.changed().await.is_err() {
                        return;
                    }
                    match *mode.borrow() {
                        Mode::Forward => break,
                        Mode::Down => return,
                        Mode::Stall => {}
                    }
                }
            }
            if server_write.write_all(&buf[..n]).await.is_err() {
                return;
            }
        }
    };
    let downstream = async {
        let mut buf = vec![0u8; 64 * 1024];
        loop {
            let n = match server_read.read(&mut buf).await {
                Ok(0) | Err(_) => return,
                Ok(n) => n,
            };
            if client_write.write_all(&buf[..n]).await.is_err() {
                return;
            }
        }
    };
    let went_down = async {
        loop {
            if *down.borrow() == Mode::Down {
                return;
            }
            if down.changed().await.is_err() {
                return;
            }
        }
    };
    tokio::select! {
        _ = upstream => {}
        _ = downstream => {}
        _ = went_down => {}
    }
}
