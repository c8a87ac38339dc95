//! A TCP proxy in front of a server that can cut every connection passing
//! through it at once, mid-stream, the way a flaky network or a restarting
//! load balancer does: both sockets are reset and whatever was in flight
//! between them is lost.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinHandle;

pub struct Cutter {
    pub addr: SocketAddr,
    connections: Arc<Mutex<Vec<JoinHandle<()>>>>,
    accept: JoinHandle<()>,
}

impl Cutter {
    /// Listens on 127.0.0.1 (a random port) and forwards to `upstream`.
    pub async fn start(upstream: SocketAddr) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let addr = listener.local_addr().expect("local addr");
        let connections: Arc<Mutex<Vec<JoinHandle<()>>>> = Arc::default();
        let tracked = Arc::clone(&connections);
        let accept = tokio::spawn(async move {
            while let Ok((client, _)) = listener.accept().await {
                let pipe = tokio::spawn(async move {
                    let Ok(server) = TcpStream::connect(upstream).await else {
                        return;
                    };
                    forward(client, server).await;
                });
                let mut connections = tracked.lock().unwrap();
                connections.retain(|c| !c.is_finished());
                connections.push(pipe);
            }
        });
        Self {
            addr,
            connections,
            accept,
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://{}{}", self.addr, path)
    }

    /// Resets every connection open now; how many there were.
    pub fn cut_all(&self) -> usize {
        let pipes: Vec<_> = self.connections.lock().unwrap().drain(..).collect();
        let open = pipes.iter().filter(|p| !p.is_finished()).count();
        for pipe in pipes {
            pipe.abort();
        }
        open
    }
}

impl Drop for Cutter {
    fn drop(&mut self) {
        self.accept.abort();
        self.cut_all();
    }
}

/// Copies both ways until either side ends. Aborting the task drops both
/// sockets; linger 0 makes that a reset, not a graceful close.
async fn forward(mut client: TcpStream, mut server: TcpStream) {
    for socket in [&client, &server] {
        let _ = socket2::SockRef::from(socket).set_linger(Some(std::time::Duration::ZERO));
        let _ = socket.set_nodelay(true);
    }
    let _ = tokio::io::copy_bidirectional(&mut client, &mut server).await;
}
