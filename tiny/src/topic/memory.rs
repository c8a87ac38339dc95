//! The in-process backend: a bounded [`History`] per topic, read by every
//! subscriber with its own cursor.
//!
//! The history is the data and the only queue a topic has. A publish appends
//! under the topic's write lock and bumps a `watch` (one value, no queue)
//! that wakes the subscribers waiting for a message; each subscriber reads
//! the entries after its cursor. So a publisher never waits for a
//! subscriber, and one that stops reading holds no memory beyond the
//! history: when the history moves past its cursor it is told so
//! ([`Resync::Lagged`]) and goes on from the newest message.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError, RwLock, RwLockReadGuard, RwLockWriteGuard};
use std::time::Instant;

use tokio::sync::watch;

use super::{Delivery, Message, Resync};
use crate::history::{Cursor, Gap, History, Limits, Next};

/// Topics whose history expired and that no subscriber holds are dropped
/// when the map reaches this many entries (then twice what is left): the
/// map is bounded by the topics in use, not by every topic ever published.
const PRUNE_AT_LEAST: usize = 64;

/// The topics of this process.
#[derive(Debug)]
pub(crate) struct Memory {
    limits: Limits,
    topics: Mutex<Topics>,
}

#[derive(Debug)]
struct Topics {
    by_name: HashMap<Arc<str>, Arc<Topic>>,
    prune_at: usize,
}

/// One topic: its history, and the wake-up of its waiting subscribers.
#[derive(Debug)]
struct Topic {
    /// Bounded by the backend's limits.
    ring: RwLock<History<Arc<Message>>>,
    /// Bumped after each publish.
    wake: watch::Sender<()>,
}

impl Topic {
    fn read(&self) -> RwLockReadGuard<'_, History<Arc<Message>>> {
        self.ring.read().unwrap_or_else(PoisonError::into_inner)
    }

    fn write(&self) -> RwLockWriteGuard<'_, History<Arc<Message>>> {
        self.ring.write().unwrap_or_else(PoisonError::into_inner)
    }
}

impl Memory {
    pub(crate) fn new(limits: Limits) -> Self {
        Self {
            limits,
            topics: Mutex::new(Topics {
                by_name: HashMap::new(),
                prune_at: PRUNE_AT_LEAST,
            }),
        }
    }

    /// The topic named `name`, created with an empty history (and a new
    /// epoch) when it has none.
    fn topic(&self, name: &str) -> Arc<Topic> {
        let mut topics = self.topics.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(topic) = topics.by_name.get(name) {
            return Arc::clone(topic);
        }
        if topics.by_name.len() >= topics.prune_at {
            let now = Instant::now();
            topics.by_name.retain(|_, topic| {
                let mut ring = topic.write();
                ring.trim(now);
                Arc::strong_count(topic) > 1 || !ring.is_empty()
            });
            topics.prune_at = (topics.by_name.len() * 2).max(PRUNE_AT_LEAST);
        }
        let topic = Arc::new(Topic {
            ring: RwLock::new(History::new(self.limits)),
            wake: watch::Sender::new(()),
        });
        topics.by_name.insert(name.into(), Arc::clone(&topic));
        topic
    }

    /// Appends a message to `topic` and wakes its subscribers; returns its id.
    pub(crate) fn publish(&self, topic: &str, name: Option<String>, data: String) -> Cursor {
        let topic = self.topic(topic);
        let id = topic.write().push(Instant::now(), |id| {
            Arc::new(Message::new(id.to_string(), name, data))
        });
        topic.wake.send_replace(());
        id
    }

    /// Subscribes to `topic`. With `last_event_id` (a message's id as the
    /// client sent it back), the subscription first replays what followed
    /// it, or starts with a [`Delivery::Resync`] saying why it cannot.
    pub(crate) fn subscribe(&self, topic: &str, last_event_id: Option<&str>) -> Subscription {
        let topic = self.topic(topic);
        // Subscribed before the cursor is resolved: whatever is published
        // after this moment wakes the subscriber, and the replay and the
        // live messages are read from the same history by the same cursor,
        // so none is missed or doubled between the two.
        let wake = topic.wake.subscribe();
        let mut ring = topic.write();
        ring.trim(Instant::now());
        let head = ring.head();
        let (cursor, opening) = match last_event_id.map(|id| ring.resume(id)) {
            None => (head, Some(Delivery::Start(head.to_string()))),
            // The client has its cursor: the replay follows it.
            Some(Ok(cursor)) => {
                crate::metrics::replayed("topic", head.seq.saturating_sub(cursor.seq));
                (cursor, None)
            }
            Some(Err(gap)) => {
                let reason = match gap {
                    Gap::Unknown => Resync::Unknown,
                    Gap::Epoch => Resync::Epoch,
                    Gap::Trimmed => Resync::Trimmed,
                };
                (
                    head,
                    Some(Delivery::Resync {
                        reason,
                        at: head.to_string(),
                    }),
                )
            }
        };
        drop(ring);
        Subscription {
            topic,
            cursor,
            opening,
            wake,
        }
    }
}

/// One subscriber of a topic: its cursor into the topic's history.
#[derive(Debug)]
pub(crate) struct Subscription {
    topic: Arc<Topic>,
    /// The position of the last delivery.
    cursor: Cursor,
    /// Handed out before anything else: where the stream starts, or why it
    /// cannot resume from its client's cursor.
    opening: Option<Delivery>,
    wake: watch::Receiver<()>,
}

impl Subscription {
    /// The next delivery: the message after the cursor, in order, waiting
    /// for one when there is none yet.
    pub(crate) async fn next(&mut self) -> Option<Delivery> {
        if let Some(opening) = self.opening.take() {
            return Some(opening);
        }
        loop {
            if let Some(delivery) = self.read() {
                return Some(delivery);
            }
            // Caught up. Mark the wake-ups seen, then look again: a message
            // published between the two reads is found by the second, one
            // published after it wakes `changed`.
            self.wake.borrow_and_update();
            if let Some(delivery) = self.read() {
                return Some(delivery);
            }
            self.wake.changed().await.ok()?;
        }
    }

    /// What follows the cursor in the history, if anything yet.
    fn read(&mut self) -> Option<Delivery> {
        let ring = self.topic.read();
        match ring.next(self.cursor) {
            Next::Entry(cursor, message) => {
                let message = Arc::clone(message);
                self.cursor = cursor;
                Some(Delivery::Message(message))
            }
            Next::CaughtUp => None,
            // Trimmed past the cursor (by count or by age) while it read:
            // it goes on from the newest message. The epoch of a topic with
            // a subscriber never changes, so no other gap can occur.
            Next::Gap(_) => {
                let behind = self.cursor;
                self.cursor = ring.head();
                tracing::warn!(
                    missed = self.cursor.seq.saturating_sub(behind.seq),
                    "a topic stream fell further behind than its topic's history keeps; \
                     it goes on from the newest message, after `resync`"
                );
                Some(Delivery::Resync {
                    reason: Resync::Lagged,
                    at: self.cursor.to_string(),
                })
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    fn memory(len: usize, age: Duration) -> Memory {
        Memory::new(Limits { len, age })
    }

    fn publish(memory: &Memory, topic: &str, data: &str) -> Cursor {
        memory.publish(topic, None, data.to_owned())
    }

    /// What a subscription has without waiting.
    fn ready(subscription: &mut Subscription) -> Vec<String> {
        let mut out = Vec::new();
        if let Some(opening) = subscription.opening.take() {
            out.push(describe(&opening));
        }
        while let Some(delivery) = subscription.read() {
            out.push(describe(&delivery));
        }
        out
    }

    fn describe(delivery: &Delivery) -> String {
        match delivery {
            Delivery::Message(message) => message.data().to_owned(),
            Delivery::Start(_) => "start".to_owned(),
            Delivery::Resync { reason, .. } => format!("resync {}", reason.reason()),
        }
    }

    #[test]
    fn every_subscriber_gets_every_message_after_it_subscribed() {
        let memory = memory(100, Duration::from_secs(60));
        publish(&memory, "t", "before");
        let mut first = memory.subscribe("t", None);
        publish(&memory, "t", "1");
        let mut second = memory.subscribe("t", None);
        publish(&memory, "t", "2");
        publish(&memory, "other", "elsewhere");
        assert_eq!(ready(&mut first), ["start", "1", "2"]);
        assert_eq!(ready(&mut second), ["start", "2"]);
    }

    #[test]
    fn a_cursor_resumes_with_exactly_what_followed_it() {
        let memory = memory(100, Duration::from_secs(60));
        let ids: Vec<Cursor> = (1..=10)
            .map(|i| publish(&memory, "t", &i.to_string()))
            .collect();
        let mut resumed = memory.subscribe("t", Some(&ids[4].to_string()));
        assert_eq!(ready(&mut resumed), ["6", "7", "8", "9", "10"]);
        let mut caught_up = memory.subscribe("t", Some(&ids[9].to_string()));
        assert!(ready(&mut caught_up).is_empty());
    }

    #[test]
    fn cursors_that_cannot_be_honoured_resync_first() {
        let memory = memory(3, Duration::from_secs(60));
        let ids: Vec<Cursor> = (1..=5)
            .map(|i| publish(&memory, "t", &i.to_string()))
            .collect();
        let mut unknown = memory.subscribe("t", Some("not-an-id"));
        assert_eq!(ready(&mut unknown), ["resync unknown"]);
        let mut trimmed = memory.subscribe("t", Some(&ids[0].to_string()));
        assert_eq!(ready(&mut trimmed), ["resync trimmed"]);
        let foreign = Cursor {
            epoch: ids[0].epoch ^ 1,
            ..ids[0]
        };
        let mut epoch = memory.subscribe("t", Some(&foreign.to_string()));
        assert_eq!(ready(&mut epoch), ["resync epoch"]);
        publish(&memory, "t", "6");
        assert_eq!(ready(&mut epoch), ["6"]);
    }

    #[test]
    fn a_lagging_subscriber_resyncs_and_goes_on() {
        let memory = memory(3, Duration::from_secs(60));
        let mut slow = memory.subscribe("t", None);
        for i in 1..=5 {
            publish(&memory, "t", &i.to_string());
        }
        assert_eq!(ready(&mut slow), ["start", "resync lagged"]);
        publish(&memory, "t", "6");
        assert_eq!(ready(&mut slow), ["6"]);
    }

    #[test]
    fn history_is_trimmed_by_age() {
        let memory = memory(100, Duration::from_millis(50));
        let first = publish(&memory, "t", "1");
        std::thread::sleep(Duration::from_millis(80));
        let mut late = memory.subscribe("t", Some(&Cursor { seq: 0, ..first }.to_string()));
        assert_eq!(ready(&mut late), ["resync trimmed"]);
        // The head is still known: a client that read it missed nothing.
        let mut current = memory.subscribe("t", Some(&first.to_string()));
        assert!(ready(&mut current).is_empty());
    }

    #[tokio::test]
    async fn a_waiting_subscriber_is_woken_by_a_publish() {
        let memory = Arc::new(memory(100, Duration::from_secs(60)));
        let mut subscription = memory.subscribe("t", None);
        assert!(matches!(
            subscription.next().await,
            Some(Delivery::Start(_))
        ));
        let publisher = Arc::clone(&memory);
        tokio::spawn(async move {
            tokio::task::yield_now().await;
            publish(&publisher, "t", "woken");
        });
        let next = tokio::time::timeout(Duration::from_secs(5), subscription.next()).await;
        assert!(matches!(next, Ok(Some(Delivery::Message(m))) if m.data() == "woken"));
    }
}
