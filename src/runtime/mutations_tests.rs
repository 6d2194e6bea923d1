//! Table tests of the mutating-call budget.

use super::*;

fn at(start: Instant, secs: u64) -> Instant {
    start + Duration::from_secs(secs)
}

#[test]
fn identical_calls_wait_five_ten_twenty_seconds_and_longer_up_to_five_minutes() {
    let waits: Vec<u64> = (1..=9).map(|n| repeat_delay(n).as_secs()).collect();
    assert_eq!(waits, [5, 10, 20, 40, 80, 160, 300, 300, 300]);
    assert_eq!(repeat_delay(u32::MAX), MAX_REPEAT);
}

#[test]
fn an_identical_call_is_refused_until_its_wait_is_over_and_then_waits_longer() {
    let start = Instant::now();
    let mut budget = Budget::default();
    assert_eq!(budget.admit(start, 1), Ok(()));
    budget.accepted(1);
    assert!(matches!(
        budget.admit(at(start, 4), 1),
        Err(Refusal::Repeat { repeats: 1, .. })
    ));
    assert_eq!(budget.admit(at(start, 4), 2), Ok(()), "another call goes");
    assert_eq!(budget.admit(at(start, 5), 1), Ok(()));
    budget.accepted(1);
    assert!(
        budget.admit(at(start, 14), 1).is_err(),
        "10 s after the 2nd"
    );
    assert_eq!(budget.admit(at(start, 15), 1), Ok(()));
}

#[test]
fn a_call_aws_refused_or_whose_answer_was_lost_waits_five_seconds_without_growing() {
    let start = Instant::now();
    let mut budget = Budget::default();
    // Sent every 5 s, never accepted (throttled, failed, lost): always the first wait.
    for second in [0, 5, 10, 15, 20, 25] {
        assert_eq!(budget.admit(at(start, second), 7), Ok(()), "at {second} s");
        // (The 6th is held by the then full window first.)
        assert!(
            matches!(
                budget.admit(at(start, second + 4), 7),
                Err(Refusal::Retry { .. } | Refusal::Window { .. })
            ),
            "held 4 s later"
        );
    }
    // The window still holds: a 7th call in the same minute waits.
    assert!(matches!(
        budget.admit(at(start, 30), 7),
        Err(Refusal::Window { .. })
    ));
}

#[test]
fn no_more_than_six_mutating_calls_in_any_minute_whatever_they_are() {
    let start = Instant::now();
    let mut budget = Budget::default();
    let mut admitted = Vec::new();
    for second in 0..180 {
        // A different call every second: only the window holds them.
        if budget.admit(at(start, second), second).is_ok() {
            admitted.push(second);
        }
    }
    assert_eq!(admitted[..7], [0, 1, 2, 3, 4, 5, 60]);
    for (n, first) in admitted.iter().enumerate() {
        let in_minute = admitted[n..].iter().filter(|s| **s < first + 60).count();
        assert!(in_minute <= PER_MINUTE, "{admitted:?}");
    }
    assert_eq!(
        budget.admit(at(start, 180), 999),
        Ok(()),
        "a quiet minute later calls go again"
    );
}

#[tokio::test]
async fn sent_since_sees_only_calls_let_go_inside_the_objects_scope() {
    let budget = Arc::new(Mutex::new(Budget::default()));
    let before = Instant::now();
    assert!(!sent_since(before), "outside any object's scope");
    let seen = for_object(Arc::clone(&budget), async {
        let nothing_yet = sent_since(before);
        budget
            .lock()
            .unwrap()
            .admit(Instant::now(), fingerprint("RemoveTagsFromResource", None))
            .unwrap();
        (nothing_yet, sent_since(before))
    })
    .await;
    assert_eq!(seen, (false, true));
    let later = Instant::now() + Duration::from_secs(1);
    assert!(!for_object(budget, async move { sent_since(later) }).await);
}

/// The chaos run saw 13 mutating calls of one object in a minute across operator
/// kills: each new process started with an empty window. Now a process that
/// restarts (a new `Budgets`, as a new process builds) sends nothing for objects
/// that existed before in its first minute, and the calls of both processes
/// together keep to 6 in any minute.
#[test]
fn across_a_restart_no_minute_holds_more_than_six_calls_of_one_object() {
    let start = Instant::now();
    let wall = SystemTime::now();
    let created = wall.checked_sub(Duration::from_hours(1));
    let mut sent = Vec::new();
    // The first process: objects it found start quiet too; from its 60th second
    // a different call every second, killed at 70 s.
    let first = Budgets::started_at(start, wall);
    let budget = first.of("db", created);
    // A different call every second, as long as `seconds` last.
    let try_every_second = |budget: &Mutex<Budget>, seconds: std::ops::Range<u64>| {
        seconds
            .filter(|second| {
                budget
                    .lock()
                    .unwrap()
                    .admit(at(start, *second), *second)
                    .is_ok()
            })
            .collect::<Vec<u64>>()
    };
    sent.extend(try_every_second(&budget, 0..70));
    assert_eq!(sent, [60, 61, 62, 63, 64, 65]);
    // The next process starts at 71 s and tries every second again.
    let restarted = at(start, 71);
    let second_process = Budgets::started_at(restarted, wall + Duration::from_secs(71));
    let budget = second_process.of("db", created);
    let held = budget.lock().unwrap().admit(restarted, 1000).unwrap_err();
    assert_eq!(held.retry_after(), WINDOW);
    assert!(held.to_string().contains("restarted"), "{held}");
    sent.extend(try_every_second(&budget, 71..250));
    assert_eq!(sent[6..9], [131, 132, 133], "{sent:?}");
    for (n, first) in sent.iter().enumerate() {
        let in_minute = sent[n..].iter().filter(|s| **s < first + 60).count();
        assert!(in_minute <= PER_MINUTE, "{sent:?}");
    }
    // An object created since the restart cannot have had earlier calls.
    let new = second_process.of("new", Some(wall + Duration::from_secs(71)));
    assert_eq!(new.lock().unwrap().admit(restarted, 1), Ok(()));
}

#[test]
fn a_held_call_says_until_when_and_why_and_the_time_is_stable_across_retries() {
    let wall = SystemTime::UNIX_EPOCH + Duration::from_hours(500_000);
    let window = |left_ms: u64| Refusal::Window {
        retry_after: Duration::from_millis(left_ms),
    };
    let held = Held::new(window(41_300), wall);
    assert_eq!(held.until.to_string(), "2027-01-15T08:00:42Z");
    // A retry 300 ms later quotes the same second.
    let later = Held::new(window(41_000), wall + Duration::from_millis(300));
    assert_eq!(later.to_string(), held.to_string());
    let message = held.to_string();
    assert!(
        message.starts_with("waits until 2027-01-15T08:00:42Z: tiered sends at most 6 changing AWS calls per object in any minute"),
        "{message}"
    );
    let boxed: Box<dyn std::error::Error + Send + Sync> = Box::new(held.clone());
    assert_eq!(Held::in_chain(&*boxed), Some(&held));
}

#[test]
fn a_call_not_repeated_for_fifteen_minutes_starts_over() {
    let start = Instant::now();
    let mut budget = Budget::default();
    for (second, expected) in [(0, true), (5, true), (15, true), (35, true), (36, false)] {
        assert_eq!(
            budget.admit(at(start, second), 7).is_ok(),
            expected,
            "{second}"
        );
    }
    assert!(budget.admit(at(start, 35 + 15 * 60), 7).is_ok());
    assert!(
        budget.admit(at(start, 35 + 15 * 60 + 5), 7).is_ok(),
        "5 s again"
    );
}

#[test]
fn the_fingerprint_tells_calls_apart_by_operation_and_parameters() {
    let create = fingerprint("CreateDBInstance", Some(b"DBInstanceIdentifier=a"));
    assert_eq!(
        create,
        fingerprint("CreateDBInstance", Some(b"DBInstanceIdentifier=a"))
    );
    assert_ne!(
        create,
        fingerprint("CreateDBInstance", Some(b"DBInstanceIdentifier=b"))
    );
    assert_ne!(
        create,
        fingerprint("DeleteDBInstance", Some(b"DBInstanceIdentifier=a"))
    );
}

#[tokio::test]
async fn each_object_has_its_own_budget_kept_across_reconciles() {
    let budgets = Budgets::<&str>::default();
    // Created since the controller started: no earlier process had calls for them.
    let new = Some(SystemTime::now());
    let a = budgets.of("a", new);
    for n in 0..6 {
        a.lock().unwrap().admit(Instant::now(), n).unwrap();
    }
    let admits_another = |object| {
        budgets
            .of(object, new)
            .lock()
            .unwrap()
            .admit(Instant::now(), 99)
            .is_ok()
    };
    assert!(!admits_another("a"), "a's budget is spent");
    assert!(admits_another("b"), "b has its own");
    budgets.forget(&"a");
    assert!(admits_another("a"), "forgotten: a fresh budget");
    let inside = for_object(budgets.of("c", new), async {
        CURRENT.try_with(|_| ()).is_ok()
    })
    .await;
    assert!(inside && CURRENT.try_with(|_| ()).is_err());
}
