use super::*;
use crate::runtime::ReplyNotify;
use std::sync::atomic::AtomicUsize;

/// Counts the times a subscriber's loop is told.
#[derive(Default)]
struct Told(AtomicUsize);

impl ReplyNotify for Told {
    fn reply_ready(&self, _tag: u64) {
        self.0.fetch_add(1, Ordering::SeqCst);
    }
}

fn published(kind: Subscription, channel: &str, message: &str) -> Published {
    Published {
        kind,
        channel: channel.as_bytes().to_vec(),
        message: message.as_bytes().to_vec(),
        answers: raft_kv_state::store::Answers::Reply,
    }
}

fn channel(name: &str, message: &str) -> Published {
    published(Subscription::Channel, name, message)
}

fn subscriber(hub: &Arc<PubSub>, id: u64) -> (Subscriber, Arc<Told>) {
    let told = Arc::new(Told::default());
    let notify: Notifier = (told.clone(), id);
    (Subscriber::new(hub.clone(), id, Some(notify)), told)
}

fn words(d: &[Delivery]) -> Vec<String> {
    d.iter()
        .map(|d| {
            let w: Vec<String> = d
                .words()
                .iter()
                .map(|w| String::from_utf8_lossy(w).into_owned())
                .collect();
            w.join(" ")
        })
        .collect()
}

#[test]
fn a_message_reaches_channel_and_pattern_subscribers_and_counts_each_subscription() {
    let hub = Arc::new(PubSub::default());
    let (mut a, _) = subscriber(&hub, 1);
    let (mut b, _) = subscriber(&hub, 2);
    assert_eq!(a.subscribe(Subscription::Channel, b"news"), 1);
    assert_eq!(a.subscribe(Subscription::Pattern, b"n*"), 2);
    assert_eq!(b.subscribe(Subscription::Pattern, b"x*"), 1);

    let counts = hub.deliver(&[channel("news", "hi"), channel("other", "no")]);

    assert_eq!(counts, vec![2, 0]);
    assert_eq!(
        words(&a.take(usize::MAX)),
        vec!["message news hi", "pmessage n* news hi"]
    );
    assert!(b.take(usize::MAX).is_empty());
}

#[test]
fn shard_channels_are_apart_from_channels_and_patterns() {
    let hub = Arc::new(PubSub::default());
    let (mut a, _) = subscriber(&hub, 1);
    a.subscribe(Subscription::Pattern, b"*");
    assert_eq!(a.subscribe(Subscription::Shard, b"s"), 1);

    let counts = hub.deliver(&[published(Subscription::Shard, "s", "m")]);

    assert_eq!(counts, vec![1]);
    assert_eq!(words(&a.take(usize::MAX)), vec!["smessage s m"]);
    assert_eq!(a.confirmation_count(Subscription::Channel), 1);
    assert_eq!(hub.channels(Subscription::Shard, None), vec![b"s".to_vec()]);
    assert!(hub.channels(Subscription::Channel, None).is_empty());
}

#[test]
fn unsubscribing_and_dropping_end_delivery_and_leave_no_trace() {
    let hub = Arc::new(PubSub::default());
    let (mut a, _) = subscriber(&hub, 1);
    let (mut b, _) = subscriber(&hub, 2);
    a.subscribe(Subscription::Channel, b"c");
    b.subscribe(Subscription::Channel, b"c");
    assert_eq!(hub.subscribers(Subscription::Channel, b"c"), 2);

    assert_eq!(a.unsubscribe(Subscription::Channel, b"c"), 0);
    assert_eq!(hub.deliver(&[channel("c", "1")]), vec![1]);
    drop(b);

    assert_eq!(hub.deliver(&[channel("c", "2")]), vec![0]);
    assert_eq!(hub.subscribers(Subscription::Channel, b"c"), 0);
    assert!(hub.channels(Subscription::Channel, None).is_empty());
    assert!(a.take(usize::MAX).is_empty());
    assert!(!a.is_subscribed());
}

#[test]
fn a_subscriber_is_told_once_per_batch_of_messages_it_has_not_taken() {
    let hub = Arc::new(PubSub::default());
    let (mut a, told) = subscriber(&hub, 1);
    a.subscribe(Subscription::Channel, b"c");

    hub.deliver(&[channel("c", "1"), channel("c", "2")]);
    hub.deliver(&[channel("c", "3")]);
    assert_eq!(told.0.load(Ordering::SeqCst), 1);

    assert_eq!(a.take(usize::MAX).len(), 3);
    hub.deliver(&[channel("c", "4")]);
    assert_eq!(told.0.load(Ordering::SeqCst), 2);
}

#[test]
fn take_stops_near_its_byte_budget_and_keeps_the_order() {
    let hub = Arc::new(PubSub::default());
    let (mut a, _) = subscriber(&hub, 1);
    a.subscribe(Subscription::Channel, b"c");
    let batch: Vec<Published> = (0..10).map(|i| channel("c", &i.to_string())).collect();
    hub.deliver(&batch);

    let first = a.take(1);
    let rest = a.take(usize::MAX);

    assert_eq!(words(&first), vec!["message c 0"]);
    assert_eq!(rest.len(), 9);
    assert_eq!(words(&rest)[0], "message c 1");
    assert!(!a.has_waiting());
}

#[test]
fn a_subscriber_beyond_the_hard_limit_is_cut_off_and_gets_nothing_more() {
    let limit = OutputLimit {
        hard: 1000,
        soft: 0,
        soft_for: Duration::ZERO,
    };
    let hub = Arc::new(PubSub::new(limit));
    let (mut slow, told) = subscriber(&hub, 1);
    let (mut fast, _) = subscriber(&hub, 2);
    slow.subscribe(Subscription::Channel, b"c");
    fast.subscribe(Subscription::Channel, b"c");
    let big = "x".repeat(400);

    hub.deliver(&[channel("c", &big), channel("c", &big)]);
    assert!(!slow.is_cut_off());
    fast.take(usize::MAX);
    hub.deliver(&[channel("c", &big)]);

    assert!(slow.is_cut_off());
    assert!(!slow.has_waiting(), "a cut-off subscriber's queue is freed");
    assert_eq!(
        told.0.load(Ordering::SeqCst),
        2,
        "told of messages, then of the cut"
    );
    assert!(!fast.is_cut_off());
    assert_eq!(fast.take(usize::MAX).len(), 1);
}

/// A hub whose subscribers may stay beyond 100 bytes for 30 ms, and one
/// subscriber of channel `c`.
fn soft_limited() -> (Arc<PubSub>, Subscriber) {
    let limit = OutputLimit {
        hard: 0,
        soft: 100,
        soft_for: Duration::from_millis(30),
    };
    let hub = Arc::new(PubSub::new(limit));
    let (mut a, _) = subscriber(&hub, 1);
    a.subscribe(Subscription::Channel, b"c");
    (hub, a)
}

#[test]
fn a_subscriber_beyond_the_soft_limit_for_longer_than_allowed_is_cut_off() {
    let (hub, a) = soft_limited();
    let big = "x".repeat(200);

    hub.deliver(&[channel("c", &big)]);
    assert!(!a.is_cut_off(), "beyond soft, but not for long yet");
    std::thread::sleep(Duration::from_millis(40));
    hub.deliver(&[channel("c", "y")]);

    assert!(a.is_cut_off());
}

#[test]
fn taking_everything_resets_the_soft_limit_clock() {
    let (hub, a) = soft_limited();
    let big = "x".repeat(200);

    hub.deliver(&[channel("c", &big)]);
    a.take(usize::MAX);
    std::thread::sleep(Duration::from_millis(40));
    hub.deliver(&[channel("c", &big)]);

    assert!(!a.is_cut_off());
}

#[test]
fn channels_and_patterns_are_counted_and_listed_by_pattern() {
    let hub = Arc::new(PubSub::default());
    let (mut a, _) = subscriber(&hub, 1);
    let (mut b, _) = subscriber(&hub, 2);
    a.subscribe(Subscription::Channel, b"news.a");
    b.subscribe(Subscription::Channel, b"news.b");
    b.subscribe(Subscription::Channel, b"sport");
    a.subscribe(Subscription::Pattern, b"foo*");
    b.subscribe(Subscription::Pattern, b"foo*");
    b.subscribe(Subscription::Pattern, b"bar*");

    assert_eq!(
        hub.channels(Subscription::Channel, Some(b"news.*")),
        vec![b"news.a".to_vec(), b"news.b".to_vec()]
    );
    assert_eq!(hub.count(Subscription::Pattern), 2);
    assert_eq!(hub.subscribers(Subscription::Pattern, b"foo*"), 2);
    assert_eq!(a.names(Subscription::Pattern), vec![b"foo*".to_vec()]);
}

#[test]
fn monitors_get_every_fed_line_and_no_line_is_made_without_one() {
    let hub = Arc::new(PubSub::default());
    let mut made = 0;
    hub.feed_monitors(|| {
        made += 1;
        "nobody listens".into()
    });
    assert_eq!(made, 0, "no monitor: the line is never formatted");
    let (mut m, told) = subscriber(&hub, 1);
    m.monitor();
    m.monitor();
    hub.feed_monitors(|| "1.000000 [0 a] \"get\" \"k\"".into());
    assert_eq!(
        words(&m.take(usize::MAX)),
        vec!["1.000000 [0 a] \"get\" \"k\""]
    );
    assert_eq!(told.0.load(Ordering::SeqCst), 1);
    drop(m);
    hub.feed_monitors(|| {
        made += 1;
        "gone".into()
    });
    assert_eq!(made, 0, "the dropped monitor left");
}
