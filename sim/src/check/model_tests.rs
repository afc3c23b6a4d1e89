//! The register-like models' behaviour (register, cas-register, kv) through the entry points:
//! legal histories accepted, planted anomalies caught, the conventions that change verdicts;
//! and the helpers `collection_model_tests` shares.

use crate::check::builtin::{ModelError, ModelErrorKind};
use crate::check::entry::{check_edn, CheckHistoryError};
use crate::check::linearizability::STEPS_MAX_DEFAULT;
use crate::check::model::{Conventions, ModelName, ModelSpec};
use crate::check::report::{Report, Verdict};
use crate::check::value::Position;

/// The verdict's name for a history written as EDN lines of
/// `type process f value time`, e.g. `invoke 0 write 1 10`.
pub(super) fn verdict(model: impl Into<ModelSpec>, events: &str) -> &'static str {
    match check(model, events).verdict {
        Verdict::Linearizable => "linearizable",
        Verdict::NotLinearizable(_) => "not linearizable",
        Verdict::Unknown { .. } => "unknown",
    }
}

pub(super) fn check(model: impl Into<ModelSpec>, events: &str) -> Report {
    let text = to_edn(events);
    match check_edn(text.as_bytes(), model, STEPS_MAX_DEFAULT) {
        Ok(report) => report,
        Err(error) => panic!("history does not load: {error}\n{text}"),
    }
}

/// Expands the compact event lines used by these tests into Jepsen EDN.
pub(super) fn to_edn(events: &str) -> String {
    events
        .lines()
        .map(str::trim)
        .filter(|line| !line.is_empty())
        .map(|line| {
            let fields: Vec<&str> = line.splitn(4, ' ').collect();
            let [kind, process, f, rest] = fields[..] else { panic!("bad test line {line:?}") };
            let Some((value, time)) = rest.rsplit_once(' ') else {
                panic!("bad test line {line:?}")
            };
            format!(
                "{{:type :{kind}, :process {process}, :f :{f}, :value {value}, :time {time}}}\n"
            )
        })
        .collect()
}

// Proves the register verdicts on the classic cases: a sequential history, a stale read
// after a completed write, and reads overlapping a write that may see either value.
#[test]
fn register_histories() {
    let cases = [
        (
            "sequential write then read",
            "linearizable",
            "
            invoke 0 write 1 0
            ok 0 write 1 10
            invoke 1 read nil 20
            ok 1 read 1 30",
        ),
        (
            "stale read after the write completed",
            "not linearizable",
            "
            invoke 0 write 1 0
            ok 0 write 1 10
            invoke 1 read nil 20
            ok 1 read nil 30",
        ),
        (
            "overlapping reads see old then new",
            "linearizable",
            "
            invoke 0 write 1 0
            invoke 1 read nil 1
            ok 1 read nil 2
            invoke 2 read nil 3
            ok 2 read 1 4
            ok 0 write 1 10",
        ),
        (
            "overlapping reads see new then old",
            "not linearizable",
            "
            invoke 0 write 1 0
            invoke 1 read nil 1
            ok 1 read 1 2
            invoke 2 read nil 3
            ok 2 read nil 4
            ok 0 write 1 10",
        ),
        (
            "read of a value never written",
            "not linearizable",
            "
            invoke 0 read nil 0
            ok 0 read 7 1",
        ),
        (
            "failed write did not happen",
            "not linearizable",
            "
            invoke 0 write 1 0
            fail 0 write 1 1
            invoke 0 read nil 2
            ok 0 read 1 3",
        ),
    ];
    for (name, expected, events) in cases {
        assert_eq!(verdict(ModelName::Register, events), expected, "{name}");
    }
}

// Proves compare-and-set semantics: ok means the register held the expected value, and a
// :fail cas is linearized as "the register did not hold it" — so a :fail cas while the
// register certainly held the expected value is a violation.
#[test]
fn cas_register_histories() {
    let cases = [
        (
            "cas succeeds on the expected value",
            "linearizable",
            "
            invoke 0 write 1 0
            ok 0 write 1 1
            invoke 0 cas [1 2] 2
            ok 0 cas [1 2] 3
            invoke 1 read nil 4
            ok 1 read 2 5",
        ),
        (
            "cas ok although the value differs",
            "not linearizable",
            "
            invoke 0 write 1 0
            ok 0 write 1 1
            invoke 0 cas [5 2] 2
            ok 0 cas [5 2] 3",
        ),
        (
            "cas fails on a different value",
            "linearizable",
            "
            invoke 0 write 1 0
            ok 0 write 1 1
            invoke 0 cas [5 2] 2
            fail 0 cas [5 2] 3
            invoke 1 read nil 4
            ok 1 read 1 5",
        ),
        (
            "cas fails although the value matched",
            "not linearizable",
            "
            invoke 0 write 1 0
            ok 0 write 1 1
            invoke 0 cas [1 2] 2
            fail 0 cas [1 2] 3",
        ),
        (
            "failed cas concurrent with the write that makes it fail",
            "linearizable",
            "
            invoke 0 write 1 0
            ok 0 write 1 1
            invoke 0 cas [1 2] 2
            invoke 1 write 3 2
            fail 0 cas [1 2] 3
            ok 1 write 3 4",
        ),
    ];
    for (name, expected, events) in cases {
        assert_eq!(verdict(ModelName::CasRegister, events), expected, "{name}");
    }
}

// Proves indeterminate operations are assumed to have taken effect when a later read needs
// it, assumed not to when a later read needs that, and cannot undo a completed write.
#[test]
fn indeterminate_operations() {
    let cases = [
        (
            "info write must have happened for the read to see 2",
            "linearizable",
            "
            invoke 0 write 2 0
            info 0 write 2 5
            invoke 1 read nil 10
            ok 1 read 2 11",
        ),
        (
            "info write must not have happened for the read to see nil",
            "linearizable",
            "
            invoke 0 write 2 0
            info 0 write 2 5
            invoke 1 read nil 10
            ok 1 read nil 11",
        ),
        (
            "a write never completed may take effect late",
            "linearizable",
            "
            invoke 0 write 2 0
            invoke 1 read nil 10
            ok 1 read nil 11
            invoke 1 read nil 12
            ok 1 read 2 13",
        ),
        (
            "an info write cannot be undone",
            "not linearizable",
            "
            invoke 0 write 2 0
            info 0 write 2 5
            invoke 1 read nil 10
            ok 1 read 2 11
            invoke 1 read nil 12
            ok 1 read nil 13",
        ),
        (
            "info cas may have taken effect",
            "linearizable",
            "
            invoke 0 write 1 0
            ok 0 write 1 1
            invoke 0 cas [1 4] 2
            info 0 cas [1 4] 3
            invoke 1 read nil 10
            ok 1 read 4 11",
        ),
    ];
    for (name, expected, events) in cases {
        assert_eq!(verdict(ModelName::CasRegister, events), expected, "{name}");
    }
}

// Proves a multi-key history is split by key: good keys pass, the bad key fails, and the
// explanation names that key, the prefix and the stuck operation; the `:key` field form
// behaves like the independent form.
#[test]
fn multi_key_split_names_the_bad_key() {
    let independent = "
        invoke 0 write [1 5] 0
        ok 0 write [1 5] 1
        invoke 1 write [2 6] 2
        ok 1 write [2 6] 3
        invoke 2 read [2 nil] 4
        ok 2 read [2 5] 5
        invoke 3 read [1 nil] 6
        ok 3 read [1 5] 7";
    let report = check(ModelName::Register, independent);
    assert_eq!(report.partitions_total, 2);
    let Verdict::NotLinearizable(explanation) = &report.verdict else {
        panic!("expected a violation, got {report}")
    };
    assert_eq!(explanation.partition, "key 2");
    assert_eq!(explanation.longest_prefix.len(), 1);
    assert_eq!(explanation.longest_prefix[0].description, "write 6");
    assert_eq!(explanation.state_after_prefix, "6");
    assert_eq!(explanation.deadline.description, "read -> 5");
    assert_eq!(explanation.deadline.history_index, 2);
    let text = report.to_string();
    assert!(text.contains("key 2 (2 operations) has no linearization"), "{text}");
    assert!(text.contains("op #2 process 2 [4, 5] read -> 5"), "{text}");

    let field_form = "{:type :invoke, :f :put, :key \"a\", :value \"x\", :process 0, :time 0}\n\
                      {:type :ok, :f :put, :key \"a\", :value \"x\", :process 0, :time 1}\n\
                      {:type :invoke, :f :append, :key \"a\", :value \"y\", :process 0, :time 2}\n\
                      {:type :ok, :f :append, :key \"a\", :value \"y\", :process 0, :time 3}\n\
                      {:type :invoke, :f :get, :key \"b\", :value nil, :process 1, :time 4}\n\
                      {:type :ok, :f :get, :key \"b\", :value nil, :process 1, :time 5}\n\
                      {:type :invoke, :f :get, :key \"a\", :value nil, :process 1, :time 6}\n\
                      {:type :ok, :f :get, :key \"a\", :value \"xy\", :process 1, :time 7}\n";
    let report = check_edn(field_form.as_bytes(), ModelName::Kv, STEPS_MAX_DEFAULT);
    assert_eq!(report.map(|report| report.verdict), Ok(Verdict::Linearizable));
    let bad = field_form.replace("\"xy\"", "\"yx\"");
    let report = check_edn(bad.as_bytes(), ModelName::Kv, STEPS_MAX_DEFAULT).expect("loads");
    let Verdict::NotLinearizable(explanation) = &report.verdict else {
        panic!("expected a violation, got {report}")
    };
    assert_eq!(explanation.partition, "key \"a\"");
}

// Proves a budget too small for the search yields Unknown rather than a verdict.
#[test]
fn budget_exhaustion_through_check_edn() {
    let text = to_edn(
        "
        invoke 0 write 1 0
        ok 0 write 1 10
        invoke 1 read nil 20
        ok 1 read 1 30",
    );
    let report = check_edn(text.as_bytes(), ModelName::Register, 1).expect("loads");
    assert_eq!(report.verdict, Verdict::Unknown { steps: 1, undecided: vec![(String::new(), 2)] });
}

// Proves model names parse, and histories that do not fit the model are typed errors that
// point at the operation's line and column.
#[test]
fn model_names_and_model_errors() {
    assert_eq!("cas-register".parse(), Ok(ModelName::CasRegister));
    assert_eq!("kv".parse::<ModelName>().map(|m| m.to_string()), Ok("kv".to_string()));
    let text = to_edn(
        "
        invoke 0 write 1 0
        invoke 1 cas [1 2] 1",
    );
    let error = check_edn(text.as_bytes(), ModelName::Register, STEPS_MAX_DEFAULT);
    let Err(CheckHistoryError::Model { position, error }) = error else {
        panic!("expected a model error, got {error:?}")
    };
    assert_eq!(position, Position { line: 2, column: 1 });
    assert_eq!(
        error.to_string(),
        "operation #1 (process 1): the register model has no :cas operation"
    );
    let text = to_edn("invoke 1 cas 3 1");
    let error = check_edn(text.as_bytes(), ModelName::CasRegister, STEPS_MAX_DEFAULT);
    assert!(matches!(
        error,
        Err(CheckHistoryError::Model {
            error: ModelError { kind: ModelErrorKind::CasValueNotAPair { .. }, .. },
            ..
        })
    ));
}

/// The model with conventions given as EDN text.
pub(super) fn with(model: ModelName, initial: Option<&str>, missing: Option<&str>) -> ModelSpec {
    let value =
        |text: &str| crate::check::edn::read_values(text.as_bytes()).expect("EDN")[0].1.clone();
    let conventions = Conventions { initial: initial.map(value), missing: missing.map(value) };
    ModelSpec::with_conventions(model, &conventions).expect("conventions fit")
}

/// Runs table rows of (name, expected verdict, events) against one model.
pub(super) fn expect_all(model: &ModelSpec, cases: &[(&str, &str, &str)]) {
    for (name, expected, events) in cases {
        assert_eq!(verdict(model.clone(), events), *expected, "{model}: {name}");
    }
}

// Proves the conventions that porcupine's and Jepsen's histories differ in decide verdicts:
// a never-written key read as "" fails under nil and passes under porcupine's "", and a
// missing read written differently from the initial value (nil, with 0 for compares) reads
// as nil, compares as 0, and is not confused with an explicit 0.
#[test]
fn conventions_decide_missing_reads() {
    let empty_read = "
        invoke 0 get [\"k\" nil] 0
        ok 0 get [\"k\" \"\"] 1
        invoke 0 append [\"k\" \"x\"] 2
        ok 0 append [\"k\" \"x\"] 3
        invoke 1 get [\"k\" nil] 4
        ok 1 get [\"k\" \"x\"] 5";
    assert_eq!(verdict(ModelName::Kv, empty_read), "not linearizable");
    assert_eq!(verdict(with(ModelName::Kv, Some("\"\""), None), empty_read), "linearizable");
    let zero_but_nil = with(ModelName::CasRegister, Some("0"), Some("nil"));
    expect_all(
        &zero_but_nil,
        &[
            (
                "a never-written register reads as nil",
                "linearizable",
                "
                invoke 0 read nil 0
                ok 0 read nil 1",
            ),
            (
                "but not as its initial 0",
                "not linearizable",
                "
                invoke 0 read nil 0
                ok 0 read 0 1",
            ),
            (
                "it compares as 0",
                "linearizable",
                "
                invoke 0 cas [0 5] 0
                ok 0 cas [0 5] 1
                invoke 0 read nil 2
                ok 0 read 5 3",
            ),
            (
                "an explicit 0 reads as 0",
                "linearizable",
                "
                invoke 0 write 0 0
                ok 0 write 0 1
                invoke 0 read nil 2
                ok 0 read 0 3",
            ),
        ],
    );
}
