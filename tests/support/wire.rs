//! The bytes on the wire, for what a well-behaved client never sends or
//! never shows: a request line with raw non-ASCII bytes, and the exact text
//! a stream opens with.

use std::net::SocketAddr;

use futures_util::StreamExt as _;
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::TcpStream;

use super::DEADLINE;

/// A response read off a raw connection.
#[derive(Debug)]
pub struct RawResponse {
    pub status: u16,
    /// Everything received, head and body, decoded lossily.
    pub text: String,
}

/// Sends `request` as is on a new connection and reads until the server
/// closes it (send `Connection: close`, or a request the server refuses).
pub async fn raw_request(addr: SocketAddr, request: &[u8]) -> RawResponse {
    tokio::time::timeout(DEADLINE, async {
        let mut stream = TcpStream::connect(addr).await.expect("connect");
        stream.write_all(request).await.expect("write request");
        let mut received = Vec::new();
        stream
            .read_to_end(&mut received)
            .await
            .expect("read response");
        let text = String::from_utf8_lossy(&received).into_owned();
        let status = text
            .strip_prefix("HTTP/1.1 ")
            .and_then(|rest| rest.get(..3))
            .and_then(|code| code.parse().ok())
            .unwrap_or_else(|| panic!("not an HTTP/1.1 response: {text:?}"));
        RawResponse { status, text }
    })
    .await
    .expect("no complete response within the deadline")
}

/// The text of a stream up to and including its first blank line: the
/// first frame exactly as the server wrote it.
pub async fn first_frame(response: reqwest::Response) -> String {
    let mut body = Box::pin(response.bytes_stream());
    let mut received = Vec::new();
    tokio::time::timeout(DEADLINE, async {
        while !received.windows(2).any(|w| w == b"\n\n") {
            match body.next().await {
                Some(Ok(chunk)) => received.extend_from_slice(&chunk),
                other => panic!("stream ended before its first frame: {other:?}"),
            }
        }
    })
    .await
    .expect("no first frame within the deadline");
    let text = String::from_utf8(received).expect("a stream is UTF-8");
    let end = text.find("\n\n").expect("a blank line") + 2;
    text[..end].to_owned()
}
