//! The collection models' behaviour (set, queue, counter, unique ids) through the entry points:
//! each accepts its legal histories and catches its planted anomalies.

use super::entry::{check_edn, CheckHistoryError};
use super::linearizability::STEPS_MAX_DEFAULT;
use super::model::{ModelName, ModelSpec};
use super::model_tests::{check, expect_all, to_edn, verdict, with};
use super::report::Verdict;

// Proves the set model accepts reads that see every completed add and any concurrent one,
// and catches a lost element, an element never added, and a read missing a completed add.
#[test]
fn set_histories() {
    expect_all(
        &ModelSpec::new(ModelName::Set),
        &[
            (
                "reads see completed adds, in any written order",
                "linearizable",
                "
                invoke 0 add 1 0
                ok 0 add 1 1
                invoke 0 add 2 2
                ok 0 add 2 3
                invoke 1 read nil 4
                ok 1 read [2 1] 5",
            ),
            (
                "a concurrent add may or may not be seen",
                "linearizable",
                "
                invoke 0 add 1 0
                ok 0 add 1 1
                invoke 0 add 2 2
                invoke 1 read nil 3
                ok 1 read #{1} 4
                invoke 2 read nil 5
                ok 2 read #{1 2} 6
                ok 0 add 2 7",
            ),
            (
                "a completed add is missing",
                "not linearizable",
                "
                invoke 0 add 1 0
                ok 0 add 1 1
                invoke 1 read nil 2
                ok 1 read #{} 3",
            ),
            (
                "an element is lost after being seen",
                "not linearizable",
                "
                invoke 0 add 1 0
                ok 0 add 1 1
                invoke 0 add 2 2
                ok 0 add 2 3
                invoke 1 read nil 4
                ok 1 read #{1 2} 5
                invoke 1 read nil 6
                ok 1 read #{1} 7",
            ),
            (
                "an element never added",
                "not linearizable",
                "
                invoke 0 add 1 0
                ok 0 add 1 1
                invoke 1 read nil 2
                ok 1 read #{1 9} 3",
            ),
        ],
    );
}

// Proves the FIFO queue model accepts dequeues in enqueue order (concurrent enqueues either
// way) and empty dequeues of an empty queue, and catches reordering, a duplicate delivery and
// an empty dequeue while an element waits; the empty marker is a convention.
#[test]
fn queue_histories() {
    let legal = "
        invoke 0 enqueue 1 0
        ok 0 enqueue 1 1
        invoke 0 enqueue 2 2
        invoke 1 enqueue 3 2
        ok 0 enqueue 2 3
        ok 1 enqueue 3 3
        invoke 2 dequeue nil 4
        ok 2 dequeue 1 5
        invoke 2 dequeue nil 6
        ok 2 dequeue 3 7
        invoke 2 dequeue nil 8
        ok 2 dequeue 2 9
        invoke 2 dequeue nil 10
        ok 2 dequeue nil 11";
    expect_all(
        &ModelSpec::new(ModelName::Queue),
        &[
            ("in order, concurrent enqueues either way, then empty", "linearizable", legal),
            (
                "dequeued out of order",
                "not linearizable",
                "
                invoke 0 enqueue 1 0
                ok 0 enqueue 1 1
                invoke 0 enqueue 2 2
                ok 0 enqueue 2 3
                invoke 1 dequeue nil 4
                ok 1 dequeue 2 5",
            ),
            (
                "one element delivered twice",
                "not linearizable",
                "
                invoke 0 enqueue 1 0
                ok 0 enqueue 1 1
                invoke 1 dequeue nil 2
                ok 1 dequeue 1 3
                invoke 2 dequeue nil 4
                ok 2 dequeue 1 5",
            ),
            (
                "empty while an element waits",
                "not linearizable",
                "
                invoke 0 enqueue 1 0
                ok 0 enqueue 1 1
                invoke 1 dequeue nil 2
                ok 1 dequeue nil 3",
            ),
            (
                "an indeterminate enqueue may have happened",
                "linearizable",
                "
                invoke 0 enqueue 1 0
                info 0 enqueue 1 1
                invoke 1 dequeue nil 2
                ok 1 dequeue 1 3",
            ),
        ],
    );
    let marked = legal.replace("ok 2 dequeue nil 11", "ok 2 dequeue :empty 11");
    assert_eq!(verdict(ModelName::Queue, &marked), "not linearizable");
    assert_eq!(verdict(with(ModelName::Queue, None, Some(":empty")), &marked), "linearizable");
}

// Proves the counter model accepts reads between the totals concurrent adds allow, and catches
// a read above them, a total going down, and a read that misses a completed add; the start
// is a convention.
#[test]
fn counter_histories() {
    let start = "
        invoke 0 read nil 0
        ok 0 read 0 1";
    expect_all(
        &ModelSpec::new(ModelName::Counter),
        &[
            ("starts at 0", "linearizable", start),
            (
                "a read sees some of the concurrent adds",
                "linearizable",
                "
                invoke 0 add 1 0
                invoke 1 add 2 0
                invoke 2 read nil 1
                ok 2 read 2 2
                ok 0 add 1 3
                ok 1 add 2 3
                invoke 2 read nil 4
                ok 2 read 3 5",
            ),
            (
                "a read above every total",
                "not linearizable",
                "
                invoke 0 add 1 0
                ok 0 add 1 1
                invoke 1 read nil 2
                ok 1 read 2 3",
            ),
            (
                "the total goes down",
                "not linearizable",
                "
                invoke 0 add 1 0
                invoke 1 add 2 0
                invoke 2 read nil 1
                ok 2 read 3 2
                invoke 2 read nil 3
                ok 2 read 1 4
                ok 0 add 1 5
                ok 1 add 2 5",
            ),
            (
                "a completed add is missed",
                "not linearizable",
                "
                invoke 0 add 5 0
                ok 0 add 5 1
                invoke 1 read nil 2
                ok 1 read 0 3",
            ),
        ],
    );
    assert_eq!(verdict(with(ModelName::Counter, Some("10"), None), start), "not linearizable");
    let from_ten = start.replace("ok 0 read 0 1", "ok 0 read 10 1");
    assert_eq!(verdict(with(ModelName::Counter, Some("10"), None), &from_ten), "linearizable");
}

// Proves the unique-id model accepts distinct ids (an indeterminate generate constrains
// nothing) and catches an id returned twice, naming it; ids of different keys are separate.
#[test]
fn unique_id_histories() {
    expect_all(
        &ModelSpec::new(ModelName::UniqueIds),
        &[
            (
                "distinct ids",
                "linearizable",
                "
                invoke 0 generate nil 0
                invoke 1 generate nil 0
                ok 0 generate 1 1
                ok 1 generate 2 1
                invoke 2 generate nil 2
                info 2 generate nil 3
                invoke 0 generate nil 4
                ok 0 generate 3 5",
            ),
            (
                "one id returned twice",
                "not linearizable",
                "
                invoke 0 generate nil 0
                ok 0 generate 5 1
                invoke 1 generate nil 2
                ok 1 generate 6 3
                invoke 0 generate nil 4
                ok 0 generate 5 5",
            ),
        ],
    );
    let report = check(
        ModelName::UniqueIds,
        "
        invoke 0 generate nil 0
        ok 0 generate 5 1
        invoke 0 generate nil 2
        ok 0 generate 5 3",
    );
    let Verdict::NotLinearizable(explanation) = &report.verdict else { panic!("{report}") };
    assert_eq!(explanation.partition, "id 5");
    assert_eq!(explanation.state_after_prefix, "already returned");
    let per_key = "
        invoke 0 generate [\"a\" nil] 0
        ok 0 generate [\"a\" 5] 1
        invoke 1 generate [\"b\" nil] 2
        ok 1 generate [\"b\" 5] 3";
    assert_eq!(verdict(ModelName::UniqueIds, per_key), "linearizable");
}

// Proves values that do not fit a model are typed errors naming the operation: a counter add
// of text, a set read of a number.
#[test]
fn values_that_do_not_fit_are_errors() {
    for (model, events, expected) in [
        (
            ModelName::Counter,
            "invoke 0 add \"x\" 0",
            "operation #0 (process 0): a counter :add value must be an integer, found \"x\"",
        ),
        (
            ModelName::Set,
            "invoke 0 read nil 0\nok 0 read 3 1",
            "operation #0 (process 0): a set :read result must be a collection, found 3",
        ),
    ] {
        let text = to_edn(events);
        match check_edn(text.as_bytes(), model, STEPS_MAX_DEFAULT) {
            Err(CheckHistoryError::Model { error, .. }) => assert_eq!(error.to_string(), expected),
            other => panic!("expected a model error, got {other:?}"),
        }
    }
}
