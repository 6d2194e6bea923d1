//! A network partition between one client and the API server: a TCP proxy in front of
//! the emulator that forwards bytes both ways until [`Partition::cut`], and from then on
//! holds every byte (no reset, no answer: what a dropped route or a frozen node looks
//! like to a client) until [`Partition::heal`]; or, with [`Partition::slow`], delivers
//! each byte a fixed time after it was sent (a slow link). Other clients of the emulator
//! keep their own direct connections, so one operator replica can lose the API server
//! while another still reaches it. An outside trial of leader election used such a proxy.

use std::net::SocketAddr;
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;

/// The proxy; dropping it stops accepting (open connections end with their peers).
pub struct Partition {
    addr: SocketAddr,
    link: watch::Sender<Link>,
    acceptor: tokio::task::JoinHandle<()>,
}

impl Partition {
    /// A proxy on a free local port forwarding to `upstream`.
    pub async fn start(upstream: SocketAddr) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let (link, _) = watch::channel(Link::default());
        let state = link.clone();
        let acceptor = tokio::spawn(async move {
            while let Ok((client, _)) = listener.accept().await {
                let Ok(server) = TcpStream::connect(upstream).await else {
                    continue;
                };
                let (client_read, client_write) = client.into_split();
                let (server_read, server_write) = server.into_split();
                tokio::spawn(forward(client_read, server_write, state.subscribe()));
                tokio::spawn(forward(server_read, client_write, state.subscribe()));
            }
        });
        Self {
            addr,
            link,
            acceptor,
        }
    }

    /// The proxy's URL: `http://127.0.0.1:PORT`.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// A `kube::Client` whose every request goes through the proxy.
    pub fn client(&self) -> kube::Client {
        kube::Client::try_from(kube::Config::new(self.url().parse().unwrap())).unwrap()
    }

    /// From now on no byte passes either way, on open connections or new ones.
    pub fn cut(&self) {
        self.link.send_modify(|link| link.cut = true);
    }

    /// Bytes pass again, the held ones first.
    pub fn heal(&self) {
        self.link.send_modify(|link| link.cut = false);
    }

    /// From now on every byte arrives `latency` after it was sent, each way.
    pub fn slow(&self, latency: Duration) {
        self.link.send_modify(|link| link.latency = latency);
    }
}

impl Drop for Partition {
    fn drop(&mut self) {
        self.acceptor.abort();
    }
}

/// The state of the link: cut, and how late bytes arrive.
#[derive(Debug, Clone, Copy, Default)]
struct Link {
    cut: bool,
    latency: Duration,
}

/// Copies `from` to `to`: each chunk is written its latency after it was read, and held
/// while the link is cut.
async fn forward(
    mut from: impl AsyncRead + Unpin + Send + 'static,
    mut to: impl AsyncWrite + Unpin,
    mut link: watch::Receiver<Link>,
) {
    let (chunks, mut arrived) = tokio::sync::mpsc::unbounded_channel();
    let latency = link.clone();
    let reader = tokio::spawn(async move {
        let mut buffer = vec![0u8; 16 * 1024];
        while let Ok(read) = from.read(&mut buffer).await {
            if read == 0 {
                break;
            }
            let due = tokio::time::Instant::now() + latency.borrow().latency;
            if chunks.send((due, buffer[..read].to_vec())).is_err() {
                break;
            }
        }
    });
    while let Some((due, chunk)) = arrived.recv().await {
        tokio::time::sleep_until(due).await;
        if link.wait_for(|link| !link.cut).await.is_err() || to.write_all(&chunk).await.is_err() {
            break;
        }
    }
    reader.abort();
    let _ = to.shutdown().await;
}
