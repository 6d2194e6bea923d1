//! A network partition between one client and the API server: a TCP proxy in front of
//! the emulator that forwards bytes both ways until [`Partition::cut`], and from then on
//! holds every byte (no reset, no answer: what a dropped route or a frozen node looks
//! like to a client) until [`Partition::heal`]. Other clients of the emulator keep their
//! own direct connections, so one operator replica can lose the API server while another
//! still reaches it. An outside trial of leader election used such a proxy.

use std::net::SocketAddr;

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;

/// The proxy; dropping it stops accepting (open connections end with their peers).
pub struct Partition {
    addr: SocketAddr,
    cut: watch::Sender<bool>,
    acceptor: tokio::task::JoinHandle<()>,
}

impl Partition {
    /// A proxy on a free local port forwarding to `upstream`.
    pub async fn start(upstream: SocketAddr) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let (cut, _) = watch::channel(false);
        let state = cut.clone();
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
            cut,
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
        self.cut.send_replace(true);
    }

    /// Bytes pass again, the held ones first.
    pub fn heal(&self) {
        self.cut.send_replace(false);
    }
}

impl Drop for Partition {
    fn drop(&mut self) {
        self.acceptor.abort();
    }
}

/// Copies `from` to `to`, holding each chunk while the partition is cut.
async fn forward(
    mut from: impl AsyncRead + Unpin,
    mut to: impl AsyncWrite + Unpin,
    mut cut: watch::Receiver<bool>,
) {
    let mut buffer = vec![0u8; 16 * 1024];
    loop {
        let read = match from.read(&mut buffer).await {
            Ok(0) | Err(_) => break,
            Ok(read) => read,
        };
        if cut.wait_for(|cut| !*cut).await.is_err() {
            break;
        }
        if to.write_all(&buffer[..read]).await.is_err() {
            break;
        }
    }
    let _ = to.shutdown().await;
}
