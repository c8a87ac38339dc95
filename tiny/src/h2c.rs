//! Cleartext HTTP/2 with prior knowledge (h2c) on the plain port: a client
//! that knows the server speaks HTTP/2 (a proxy configured for it, `curl
//! --http2-prior-knowledge`) opens with the connection preface instead of a
//! request line (RFC 9113 §3.3), and is served HTTP/2; anything else is
//! HTTP/1.1. The `Upgrade: h2c` dance is not offered (RFC 9113 dropped it).
//!
//! The first bytes are peeked, not read: hyper then reads them itself, so
//! an HTTP/1.1 connection is handed the bare socket, with nothing buffered
//! or wrapped for the life of its stream.

use std::io;

use tokio::io::Interest;
use tokio::net::TcpStream;

/// What every HTTP/2 connection opens with (RFC 9113 §3.4). No request
/// line starts with it: `PRI` is no method.
const PREFACE: &[u8; 24] = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";

/// The protocol a plain-port connection speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Protocol {
    Http1,
    Http2,
}

/// Waits for the connection's first bytes, without consuming them, until
/// they are the preface or cannot become it; `None` when the client closed
/// first. Bounding the wait is the caller's.
pub(crate) async fn sniff(tcp: &TcpStream) -> io::Result<Option<Protocol>> {
    let mut seen = [0; PREFACE.len()];
    // Nearly always decided here: a request line differs from the preface
    // in its first bytes, and a preface arrives in one segment.
    let peeked = tcp.peek(&mut seen).await?;
    if let Some(decided) = decide(&seen[..peeked]) {
        return Ok(decided);
    }
    // The start of the preface, the rest still to come. tokio's `peek`
    // would return these same bytes at once, forever; waiting for more
    // takes a peek inside `try_io`, which forgets the readiness when the
    // closure reports nothing new, so the next wait lasts until more bytes
    // (or the end) arrive. std peeks, through a duplicate descriptor: the
    // one tokio holds cannot be borrowed as a std socket.
    let peeker = std::net::TcpStream::from(socket2::SockRef::from(tcp).try_clone()?);
    loop {
        let ready = tcp.ready(Interest::READABLE).await?;
        let peeked = tcp.try_io(Interest::READABLE, || {
            let peeked = peeker.peek(&mut seen)?;
            match decide(&seen[..peeked]) {
                Some(decided) => Ok(decided),
                // The end is final readiness: asking again would spin.
                None if ready.is_read_closed() => Ok(None),
                None => Err(io::ErrorKind::WouldBlock.into()),
            }
        });
        match peeked {
            Ok(decided) => return Ok(decided),
            Err(error) if error.kind() == io::ErrorKind::WouldBlock => continue,
            Err(error) => return Err(error),
        }
    }
}

/// `Some(None)` for the end of the connection (nothing peeked), `None`
/// while what came so far is the start of the preface.
fn decide(seen: &[u8]) -> Option<Option<Protocol>> {
    if seen.is_empty() {
        Some(None)
    } else if !PREFACE.starts_with(seen) {
        Some(Some(Protocol::Http1))
    } else if seen.len() == PREFACE.len() {
        Some(Some(Protocol::Http2))
    } else {
        None
    }
}

#[cfg(test)]
mod tests {
    use std::future::Future as _;
    use std::pin::pin;
    use std::task::Poll;

    use tokio::io::AsyncWriteExt as _;
    use tokio::net::TcpListener;

    use super::*;

    /// A connected pair over loopback: (client, server).
    async fn pair() -> (TcpStream, TcpStream) {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let client = TcpStream::connect(listener.local_addr().unwrap())
            .await
            .unwrap();
        let (server, _) = listener.accept().await.unwrap();
        (client, server)
    }

    /// Waits until `n` bytes sent by the client are in the server's
    /// receive queue, so that what `sniff` sees next is known.
    async fn arrived(server: &TcpStream, n: usize) {
        let mut buf = [0; 64];
        while server.peek(&mut buf).await.unwrap() < n {
            tokio::task::yield_now().await;
        }
    }

    #[test]
    fn decides_from_the_first_byte_that_differs() {
        assert_eq!(decide(b"G"), Some(Some(Protocol::Http1)));
        assert_eq!(decide(b"POST / HTTP/1.1"), Some(Some(Protocol::Http1)));
        assert_eq!(decide(b"PRI * HTTP/1.1"), Some(Some(Protocol::Http1)));
        assert_eq!(decide(b"PRI"), None);
        assert_eq!(decide(&PREFACE[..23]), None);
        assert_eq!(decide(PREFACE), Some(Some(Protocol::Http2)));
        assert_eq!(decide(b""), Some(None));
    }

    #[tokio::test]
    async fn a_request_line_is_http1_and_stays_unread() {
        let (mut client, server) = pair().await;
        let request = b"GET / HTTP/1.1\r\nhost: x\r\n\r\n";
        client.write_all(request).await.unwrap();
        arrived(&server, request.len()).await;
        assert_eq!(sniff(&server).await.unwrap(), Some(Protocol::Http1));
        let mut buf = [0; 64];
        assert_eq!(server.peek(&mut buf).await.unwrap(), request.len());
    }

    #[tokio::test]
    async fn the_preface_is_http2() {
        let (mut client, server) = pair().await;
        client.write_all(PREFACE).await.unwrap();
        assert_eq!(sniff(&server).await.unwrap(), Some(Protocol::Http2));
    }

    #[tokio::test]
    async fn a_preface_in_pieces_waits_for_the_rest_without_spinning() {
        let (mut client, server) = pair().await;
        client.write_all(&PREFACE[..5]).await.unwrap();
        arrived(&server, 5).await;
        let mut sniffing = pin!(sniff(&server));
        // One poll returns: a loop on the same five bytes would never yield.
        let polled = std::future::poll_fn(|cx| Poll::Ready(sniffing.as_mut().poll(cx))).await;
        assert!(polled.is_pending(), "decided on half a preface: {polled:?}");
        client.write_all(&PREFACE[5..]).await.unwrap();
        assert_eq!(sniffing.await.unwrap(), Some(Protocol::Http2));
    }

    #[tokio::test]
    async fn a_client_that_closes_mid_preface_or_before_a_byte_is_none() {
        let (mut client, server) = pair().await;
        client.write_all(&PREFACE[..10]).await.unwrap();
        client.shutdown().await.unwrap();
        assert_eq!(sniff(&server).await.unwrap(), None);

        let (client, server) = pair().await;
        drop(client);
        assert_eq!(sniff(&server).await.unwrap(), None);
    }
}
