//! What every accepted connection gets before hyper serves it: TCP options
//! that find dead peers, and a write timeout that ends a client which stopped
//! reading.
//!
//! An event stream writes for hours, so a peer that vanished (a laptop lid
//! closed, a NAT entry dropped) or a reader that stalled must be noticed by
//! the server, not left holding a task, a socket and whatever it was sent:
//!
//! - TCP keepalive probes an idle connection after 30 s, so a peer that
//!   vanished without a FIN is found within about a minute, not TCP's 2 h.
//! - `TCP_USER_TIMEOUT` (Linux) bounds how long sent data may stay
//!   unacknowledged: keepalive probes do not run while data is in flight, and
//!   retransmissions alone would take about 15 min to give up.
//! - The write timeout ends a connection whose writes make no progress for
//!   that long (a full socket buffer: the client stopped reading). A key
//!   message it held stays pending for its lineage and is replayed when the
//!   client returns.
//! - Over HTTP/2 the connection also sends a PING every 20 s
//!   (`App::h2_keep_alive`) and closes when none is answered within as
//!   long: one connection carries many streams, so a dead peer costs them
//!   all until it is found.

use std::future::Future as _;
use std::io;
use std::pin::Pin;
use std::task::{Context, Poll, ready};
use std::time::Duration;

use socket2::{SockRef, TcpKeepalive};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::time::{Instant, Sleep};

/// What a client is answered when the process has no descriptor to serve
/// it: a complete response, so it is refused, not left hanging.
const OUT_OF_DESCRIPTORS: &[u8] = b"HTTP/1.1 503 Service Unavailable\r\n\
    retry-after: 1\r\ncontent-type: text/plain\r\ncontent-length: 38\r\n\
    connection: close\r\n\r\nthe server is out of file descriptors\n";

/// A descriptor held in reserve for when accepting fails for lack of
/// descriptors (`EMFILE`, `ENFILE`): it is released to accept one waiting
/// client, answer it 503 and close, then taken again. Without it such a
/// client waits in the backlog until something else closes.
pub(crate) struct Reserve {
    spare: Option<std::fs::File>,
}

impl Reserve {
    pub(crate) fn new() -> Self {
        Self {
            spare: std::fs::File::open("/dev/null").ok(),
        }
    }

    /// Handles a failed `accept`. Per-connection errors are the peer's
    /// business; running out of descriptors refuses one client with the
    /// reserve; anything else is logged. Each path pauses briefly when
    /// nothing could be done, so the accept loop never spins.
    pub(crate) async fn accept_failed(&mut self, error: io::Error, listener: &TcpListener) {
        use std::io::ErrorKind::{ConnectionAborted, ConnectionRefused, ConnectionReset};
        if matches!(
            error.kind(),
            ConnectionRefused | ConnectionAborted | ConnectionReset
        ) {
            return;
        }
        let out_of_descriptors = error.raw_os_error().is_some_and(is_fd_exhaustion);
        if out_of_descriptors && self.spare.take().is_some() {
            let refused = tokio::time::timeout(Duration::from_millis(50), listener.accept()).await;
            if let Ok(Ok((mut tcp, _))) = refused {
                // Answer, close our side, and read what the client sent: a
                // socket closed with unread data resets the connection, and
                // the client would see a reset instead of the 503.
                use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
                let _ = tokio::time::timeout(Duration::from_millis(100), async {
                    tcp.write_all(OUT_OF_DESCRIPTORS).await?;
                    tcp.shutdown().await?;
                    let mut sink = [0u8; 1024];
                    while tcp.read(&mut sink).await? > 0 {}
                    io::Result::Ok(())
                })
                .await;
            }
            self.spare = std::fs::File::open("/dev/null").ok();
            tracing::warn!("out of file descriptors: a client was answered 503");
            return;
        }
        tracing::error!(%error, "cannot accept a connection; retrying in 100 ms");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// `EMFILE` (the process's limit) or `ENFILE` (the system's).
fn is_fd_exhaustion(code: i32) -> bool {
    const EMFILE: i32 = 24;
    const ENFILE: i32 = 23;
    cfg!(unix) && (code == EMFILE || code == ENFILE)
}

/// Idle time before the first keepalive probe, then the probe interval and
/// count: a silent peer is declared dead after 30 + 3 × 10 = 60 s.
const KEEPALIVE_IDLE: Duration = Duration::from_secs(30);
const KEEPALIVE_INTERVAL: Duration = Duration::from_secs(10);
const KEEPALIVE_RETRIES: u32 = 3;

/// Sets the socket options of an accepted connection; a failure is logged,
/// never fatal (the connection is still served).
pub(crate) fn configure(tcp: &TcpStream, write_timeout: Duration) {
    // Frames are small and must not wait for Nagle's algorithm.
    if let Err(error) = tcp.set_nodelay(true) {
        tracing::debug!(%error, "cannot set TCP_NODELAY");
    }
    let socket = SockRef::from(tcp);
    let keepalive = TcpKeepalive::new()
        .with_time(KEEPALIVE_IDLE)
        .with_interval(KEEPALIVE_INTERVAL);
    #[cfg(not(any(target_os = "windows", target_os = "openbsd")))]
    let keepalive = keepalive.with_retries(KEEPALIVE_RETRIES);
    if let Err(error) = socket.set_tcp_keepalive(&keepalive) {
        tracing::debug!(%error, "cannot set TCP keepalive");
    }
    #[cfg(any(target_os = "linux", target_os = "android"))]
    if let Err(error) = socket.set_tcp_user_timeout(Some(write_timeout)) {
        tracing::debug!(%error, "cannot set TCP_USER_TIMEOUT");
    }
    #[cfg(not(any(target_os = "linux", target_os = "android")))]
    let _ = write_timeout;
}

/// A connection whose writes fail with `TimedOut` once they have made no
/// progress for `limit`: hyper then closes it, dropping its streams.
///
/// The timer exists only while a write waits, and is polled with the same
/// waker as the write, so the connection's task wakes at the deadline even
/// though the socket never becomes writable.
pub(crate) struct TimedWrites<T> {
    io: T,
    limit: Duration,
    /// Armed when a write first returns `Pending`; disarmed by progress.
    stalled: Option<Pin<Box<Sleep>>>,
    waiting: bool,
}

impl<T> TimedWrites<T> {
    pub(crate) fn new(io: T, limit: Duration) -> Self {
        Self {
            io,
            limit,
            stalled: None,
            waiting: false,
        }
    }

    /// The connection itself, to peek at what the client sent.
    pub(crate) fn get_ref(&self) -> &T {
        &self.io
    }

    /// Called when a write returned `Pending`: `Ready(Err)` once the limit
    /// has passed since the first `Pending` of this stall.
    fn poll_stall(&mut self, cx: &mut Context<'_>) -> Poll<io::Error> {
        let deadline = Instant::now() + self.limit;
        let sleep = self
            .stalled
            .get_or_insert_with(|| Box::pin(tokio::time::sleep_until(deadline)));
        if !self.waiting {
            self.waiting = true;
            sleep.as_mut().reset(deadline);
        }
        ready!(sleep.as_mut().poll(cx));
        Poll::Ready(io::Error::new(
            io::ErrorKind::TimedOut,
            format!(
                "the client took no bytes for {:?} (write timeout, TINY_WRITE_TIMEOUT)",
                self.limit
            ),
        ))
    }

    fn progress<R>(
        &mut self,
        result: Poll<io::Result<R>>,
        cx: &mut Context<'_>,
    ) -> Poll<io::Result<R>> {
        match result {
            Poll::Pending => match self.poll_stall(cx) {
                Poll::Ready(error) => Poll::Ready(Err(error)),
                Poll::Pending => Poll::Pending,
            },
            ready => {
                self.waiting = false;
                ready
            }
        }
    }
}

impl<T: AsyncRead + Unpin> AsyncRead for TimedWrites<T> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(&mut self.io).poll_read(cx, buf)
    }
}

impl<T: AsyncWrite + Unpin> AsyncWrite for TimedWrites<T> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let this = &mut *self;
        let result = Pin::new(&mut this.io).poll_write(cx, buf);
        this.progress(result, cx)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let this = &mut *self;
        let result = Pin::new(&mut this.io).poll_write_vectored(cx, bufs);
        this.progress(result, cx)
    }

    fn is_write_vectored(&self) -> bool {
        self.io.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = &mut *self;
        let result = Pin::new(&mut this.io).poll_flush(cx);
        this.progress(result, cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = &mut *self;
        let result = Pin::new(&mut this.io).poll_shutdown(cx);
        this.progress(result, cx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::AsyncWriteExt as _;

    #[test]
    fn the_out_of_descriptors_answer_is_a_complete_response() {
        let text = std::str::from_utf8(OUT_OF_DESCRIPTORS).unwrap();
        let (head, body) = text.split_once("\r\n\r\n").unwrap();
        assert!(head.starts_with("HTTP/1.1 503 "));
        assert!(head.contains(&format!("content-length: {}", body.len())));
    }

    #[tokio::test(start_paused = true)]
    async fn a_write_that_makes_no_progress_fails_after_the_limit() {
        // A pipe whose reader never reads: writes block once it is full.
        let (writer, _reader) = tokio::io::duplex(64);
        let mut timed = TimedWrites::new(writer, Duration::from_secs(30));
        let start = Instant::now();
        let error = timed.write_all(&[0u8; 1024]).await.unwrap_err();
        assert_eq!(error.kind(), io::ErrorKind::TimedOut);
        assert_eq!(start.elapsed(), Duration::from_secs(30));
    }

    #[tokio::test(start_paused = true)]
    async fn progress_restarts_the_clock() {
        let (writer, mut reader) = tokio::io::duplex(64);
        let mut timed = TimedWrites::new(writer, Duration::from_secs(30));
        let drain = tokio::spawn(async move {
            use tokio::io::AsyncReadExt as _;
            let mut buf = [0u8; 64];
            let mut total = 0;
            // Reads 64 bytes every 20 s: slower than the writer, never
            // stalled for the whole limit.
            while total < 256 {
                tokio::time::sleep(Duration::from_secs(20)).await;
                total += reader.read(&mut buf).await.unwrap();
            }
            total
        });
        timed.write_all(&[0u8; 256]).await.unwrap();
        drop(timed);
        assert!(drain.await.unwrap() >= 192);
    }
}
