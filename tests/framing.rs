//! The event-stream framing, checked against a parser written from the
//! WHATWG spec (tests/support/parser.rs), not against the encoder itself:
//! whatever a producer sends comes back as exactly the event it meant, and no
//! payload can forge another event.

mod support;

use std::time::Duration;

use proptest::prelude::*;
use support::{Parser, ServerEvent, TestServer, client};
use tiny::prelude::*;

/// What a browser's `e.data` holds for `data`: every CRLF, CR and LF is a
/// line end, and lines are joined back with LF.
fn as_received(data: &str) -> String {
    data.replace("\r\n", "\n").replace('\r', "\n")
}

fn holds_a_line_break_or_nul(value: &str) -> bool {
    value.contains(['\r', '\n', '\0'])
}

/// Text rich in what frames are made of: line ends of all three kinds,
/// NUL, BOM, colons, spaces, field names; and plain arbitrary strings.
fn text() -> impl Strategy<Value = String> {
    let piece = prop_oneof![
        Just("\n".to_owned()),
        Just("\r".to_owned()),
        Just("\r\n".to_owned()),
        Just("\n\n".to_owned()),
        Just("\0".to_owned()),
        Just("\u{feff}".to_owned()),
        Just(":".to_owned()),
        Just(" ".to_owned()),
        Just("data: ".to_owned()),
        Just("event: x".to_owned()),
        Just("id: 1".to_owned()),
        Just("retry: 1".to_owned()),
        Just("[DONE]".to_owned()),
        "[a-zA-Z0-9]{0,4}",
        any::<char>().prop_map(String::from),
    ];
    prop_oneof![
        any::<String>(),
        prop::collection::vec(piece, 0..16).prop_map(|pieces| pieces.concat()),
    ]
}

/// One thing a stream writes.
#[derive(Debug, Clone)]
enum Written {
    Message {
        data: String,
        event: Option<String>,
        id: Option<String>,
    },
    Comment(String),
    Retry(u64),
}

impl Written {
    fn event(&self) -> Event {
        match self {
            Written::Message { data, event, id } => {
                let mut built = Event::data(data.clone());
                if let Some(name) = event {
                    built = built.event(name.clone());
                }
                if let Some(id) = id {
                    built = built.id(id.clone());
                }
                built
            }
            Written::Comment(text) => Event::comment(text.clone()),
            Written::Retry(ms) => Event::default().retry(Duration::from_millis(*ms)),
        }
    }
}

fn written() -> impl Strategy<Value = Written> {
    prop_oneof![
        4 => (text(), prop::option::of(text()), prop::option::of(text()))
            .prop_map(|(data, event, id)| Written::Message { data, event, id }),
        1 => text().prop_map(Written::Comment),
        1 => (0u64..100_000).prop_map(Written::Retry),
    ]
}

fn parse(bytes: &[u8]) -> Vec<ServerEvent> {
    Parser::default().feed(bytes)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn any_data_comes_back_as_exactly_one_event(data in text()) {
        let frame = Event::data(data.clone()).encode().expect("data never fails to encode");
        let events = parse(&frame);
        prop_assert_eq!(events.len(), 1, "{:?}", frame);
        prop_assert_eq!(&events[0].data, &as_received(&data));
        prop_assert_eq!(&events[0].event, "message");
        prop_assert_eq!(&events[0].id, "");
    }

    #[test]
    fn a_frame_has_one_blank_line_and_it_is_the_last(data in text()) {
        let frame = Event::data(data).encode().unwrap();
        let frame = std::str::from_utf8(&frame).expect("frames are UTF-8");
        prop_assert!(!frame.contains('\r'), "{:?}", frame);
        prop_assert!(frame.ends_with("\n\n"), "{:?}", frame);
        prop_assert!(!frame[..frame.len() - 1].contains("\n\n"), "{:?}", frame);
        prop_assert!(frame.lines().all(|line| line.is_empty() || line.starts_with("data: ")));
    }

    #[test]
    fn an_event_name_is_written_whole_or_refused(name in text()) {
        match Event::data("x").event(name.clone()).encode() {
            Err(error) => {
                prop_assert!(holds_a_line_break_or_nul(&name), "refused {:?}: {}", name, error);
                prop_assert_eq!(error.status(), 500);
            }
            Ok(frame) => {
                prop_assert!(!holds_a_line_break_or_nul(&name), "wrote {:?}", name);
                let events = parse(&frame);
                prop_assert_eq!(events.len(), 1);
                // An empty name is the default type, as in the browser.
                let expected = if name.is_empty() { "message" } else { name.as_str() };
                prop_assert_eq!(events[0].event.as_str(), expected);
                prop_assert_eq!(&events[0].data, "x");
            }
        }
    }

    #[test]
    fn an_id_is_written_whole_or_refused(id in text()) {
        match Event::data("x").id(id.clone()).encode() {
            Err(_) => prop_assert!(holds_a_line_break_or_nul(&id), "refused {:?}", id),
            Ok(frame) => {
                prop_assert!(!holds_a_line_break_or_nul(&id), "wrote {:?}", id);
                let events = parse(&frame);
                prop_assert_eq!(events.len(), 1);
                prop_assert_eq!(&events[0].id, &id);
                prop_assert_eq!(&events[0].data, "x");
            }
        }
    }

    #[test]
    fn concatenated_frames_yield_exactly_their_events(
        stream in prop::collection::vec(written(), 0..12),
        cuts in prop::collection::vec(any::<prop::sample::Index>(), 0..6),
    ) {
        let mut bytes = Vec::new();
        let mut expected = Vec::new();
        let mut last_id = String::new();
        let mut reconnection_time = None;
        for item in &stream {
            // A stream skips what cannot be encoded; so does this one.
            let Ok(frame) = item.event().encode() else { continue };
            bytes.extend_from_slice(&frame);
            match item {
                Written::Message { data, event, id } => {
                    if let Some(id) = id {
                        last_id = id.clone();
                    }
                    expected.push(ServerEvent {
                        event: match event.as_deref() {
                            None | Some("") => "message".to_owned(),
                            Some(name) => name.to_owned(),
                        },
                        data: as_received(data),
                        id: last_id.clone(),
                    });
                }
                Written::Comment(_) => {}
                Written::Retry(ms) => reconnection_time = Some(*ms),
            }
        }
        // However the bytes are cut into reads.
        let mut cuts: Vec<usize> = cuts.iter().map(|i| i.index(bytes.len() + 1)).collect();
        cuts.sort_unstable();
        let mut parser = Parser::default();
        let mut events = Vec::new();
        let mut from = 0;
        for cut in cuts.into_iter().chain([bytes.len()]) {
            events.extend(parser.feed(&bytes[from..cut]));
            from = cut;
        }
        prop_assert_eq!(events, expected);
        prop_assert_eq!(parser.reconnection_time, reconnection_time);
    }

    #[test]
    fn a_payload_that_writes_fields_stays_data(
        before in text(),
        after in text(),
        line_end in prop_oneof![Just("\n"), Just("\r"), Just("\r\n")],
    ) {
        let payload = format!(
            "{before}{line_end}{line_end}event: admin{line_end}id: 666{line_end}retry: 1{line_end}data: pwned{line_end}{line_end}{after}"
        );
        let frame = Event::data(payload.clone()).encode().unwrap();
        let mut parser = Parser::default();
        let events = parser.feed(&frame);
        prop_assert_eq!(events.len(), 1);
        prop_assert_eq!(&events[0].event, "message");
        prop_assert_eq!(&events[0].id, "");
        prop_assert_eq!(&events[0].data, &as_received(&payload));
        prop_assert_eq!(parser.reconnection_time, None);
    }
}

#[test]
fn line_ends_of_every_kind_become_lf() {
    let frame = Event::data("a\r\nb\rc\nd\r\n").encode().unwrap();
    assert_eq!(parse(&frame)[0].data, "a\nb\nc\nd\n");
}

#[test]
fn empty_data_is_one_empty_event() {
    let events = parse(&Event::data("").encode().unwrap());
    assert_eq!(events.len(), 1);
    assert_eq!(events[0].data, "");
}

#[test]
fn comments_and_keep_alives_are_not_events() {
    let mut parser = Parser::default();
    assert!(
        parser
            .feed(&Event::comment("a\nb\r\nc").encode().unwrap())
            .is_empty()
    );
    assert!(parser.feed(&Event::default().encode().unwrap()).is_empty());
    assert_eq!(parser.comments, 4);
}

/// Streams back the `say` query parameter, then `[DONE]`.
#[controller]
pub struct Echo;

#[controller]
impl Echo {
    fn get(&self, req: &Request) -> tiny::sse::EventStream {
        let mut said = req.query_value("say");
        tiny::sse().stream(
            move || {
                let next = said.take().unwrap_or_else(|| DONE.to_owned());
                async move { Some(next) }
            },
            Duration::from_millis(50),
        )
    }
}

#[tokio::test]
async fn a_payload_cannot_inject_events_over_the_wire() {
    let server = TestServer::start(App::empty().mount::<Echo>()).await;
    for payload in [
        "hello\n\nevent: admin\ndata: pwned",
        "hello\r\n\r\nevent: admin\r\ndata: pwned\r\n\r\n",
        "\r\rid: 666\r\rretry: 1\r\r",
        // Looks like the sentinel to a reader that splits on blank lines.
        "[DONE]\n\ndata: [DONE]",
        ": not a comment\n:\n",
    ] {
        let response = client()
            .get(server.url("/echo"))
            .query(&[("say", payload)])
            .send()
            .await
            .expect("request failed");
        assert_eq!(response.headers()["content-type"], "text/event-stream");
        let mut events = support::EventReader::new(response);
        let received = events.until_end_within_deadline().await;
        let expected = [
            ServerEvent {
                event: "message".into(),
                data: as_received(payload),
                id: String::new(),
            },
            ServerEvent {
                event: "message".into(),
                data: "[DONE]".into(),
                id: String::new(),
            },
        ];
        assert_eq!(received, expected, "payload {payload:?}");
        assert_eq!(events.reconnection_time(), None, "payload {payload:?}");
    }
}
