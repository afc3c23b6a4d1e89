//! stream-backpressure's four checks, each a fold over the sender's and the receiver's
//! observations (`sent`, `released`; `received`, `consumed`), keyed by stream: a sender
//! incarnation's claims stay binding after it crashed, and a stream that a planted bug
//! opened anew is judged on its own.
//!
//! An observation a check needs but cannot read fails the check: a check that skipped what
//! it cannot read would pass every seed.

use std::collections::{BTreeMap, BTreeSet};

use orrery_sim::workload::{CheckLogic, CheckResult, Run};
use orrery_sim::{Instant, Observation};

use super::{Message, StreamParams};

type View<'a> = Run<'a, Message, StreamParams>;

fn field(observation: &Observation, name: &str) -> Result<u64, String> {
    observation.u64(name).ok_or_else(|| format!("cannot read `{name}` of {observation}"))
}

/// `window_respected`: per stream, (highest sequence sent + 1) − (sequences consumed) never
/// exceeds the window. Judged at each `sent` and `consumed`, so at every event that changes
/// either side.
#[derive(Debug)]
pub struct Window {
    window: u64,
    /// Per stream: highest sequence sent plus one, and sequences consumed.
    streams: BTreeMap<u64, (u64, u64)>,
}

impl Window {
    /// The check for a window of `window` items.
    pub fn new(window: u64) -> Self {
        Window { window, streams: BTreeMap::new() }
    }
}

impl CheckLogic<Message, StreamParams> for Window {
    fn observes(&self) -> bool {
        true
    }

    fn observe(&mut self, observation: &Observation) -> Result<(), String> {
        let is_sent = match observation.kind.as_ref() {
            "sent" => true,
            "consumed" => false,
            _ => return Ok(()),
        };
        let (stream, seq) = (field(observation, "stream")?, field(observation, "seq")?);
        let (sent, consumed) = self.streams.entry(stream).or_default();
        match is_sent {
            true => *sent = (*sent).max(seq + 1),
            false => *consumed = (*consumed).max(seq + 1),
        }
        let in_flight = sent.saturating_sub(*consumed);
        match in_flight <= self.window {
            true => Ok(()),
            false => Err(format!(
                "stream {stream}: sequences below {sent} sent, below {consumed} consumed: \
                 {in_flight} in flight, window {}: {observation}",
                self.window
            )),
        }
    }

    fn evaluate(&mut self, _run: &View<'_>) -> CheckResult {
        CheckResult::Pass
    }
}

/// `fifo_delivery`: every item the receiver's application consumes is above the one it
/// consumed before, whatever stream carried it: source order, each item at most once.
#[derive(Debug, Default, Clone)]
pub struct Fifo {
    last: Option<(u64, Observation)>,
}

impl CheckLogic<Message, StreamParams> for Fifo {
    fn observes(&self) -> bool {
        true
    }

    fn observe(&mut self, observation: &Observation) -> Result<(), String> {
        if !observation.is("consumed") {
            return Ok(());
        }
        let item = field(observation, "item")?;
        if let Some((last, before)) = &self.last {
            if item <= *last {
                let what = if item == *last { "again" } else { "out of order" };
                return Err(format!("item {item} delivered {what}: {observation}, after {before}"));
            }
        }
        self.last = Some((item, observation.clone()));
        Ok(())
    }

    fn evaluate(&mut self, _run: &View<'_>) -> CheckResult {
        CheckResult::Pass
    }
}

/// `acknowledged_not_lost`: nothing the receiver took custody of is lost, at either end.
/// When the sender releases a stream below `below` (it will never resend those sequences),
/// the receiver holds every one of them: `below` is at most the receiver's contiguous custody
/// of that stream, built from its `received` observations. And the receiver's application
/// skips no item: each item it consumes is at most one past the highest consumed before
/// (item 0 first), so an item acknowledged and then dropped shows as a gap.
#[derive(Debug, Default)]
pub struct Custody {
    /// Per stream: every sequence below the first value was received; the set holds those
    /// received above it.
    streams: BTreeMap<u64, (u64, BTreeSet<u64>)>,
    /// One past the highest item consumed.
    consumed_below: u64,
}

impl CheckLogic<Message, StreamParams> for Custody {
    fn observes(&self) -> bool {
        true
    }

    fn observe(&mut self, observation: &Observation) -> Result<(), String> {
        let is_received = match observation.kind.as_ref() {
            "received" => true,
            "released" => false,
            "consumed" => return self.consumed(observation),
            _ => return Ok(()),
        };
        let stream = field(observation, "stream")?;
        let (held_below, ahead) = self.streams.entry(stream).or_default();
        if is_received {
            ahead.insert(field(observation, "seq")?);
            while ahead.remove(held_below) {
                *held_below += 1;
            }
            return Ok(());
        }
        let below = field(observation, "below")?;
        match below <= *held_below {
            true => Ok(()),
            false => Err(format!(
                "stream {stream}: the sender released every sequence below {below}, but the \
                 receiver never received {held_below}: {observation}"
            )),
        }
    }

    fn evaluate(&mut self, _run: &View<'_>) -> CheckResult {
        CheckResult::Pass
    }
}

impl Custody {
    fn consumed(&mut self, observation: &Observation) -> Result<(), String> {
        let item = field(observation, "item")?;
        if item > self.consumed_below {
            let missing = match item - self.consumed_below {
                1 => format!("item {}", self.consumed_below),
                _ => format!("items {} to {}", self.consumed_below, item - 1),
            };
            return Err(format!("{missing} never delivered: {observation}"));
        }
        self.consumed_below = self.consumed_below.max(item + 1);
        Ok(())
    }
}

/// `stream_progresses` (liveness): more than `window` items consumed after the heal, so at
/// least one grant made after the heal came back as data.
#[derive(Debug)]
pub struct Progress {
    heal_at: Instant,
    window: u64,
    consumed_since_heal: u64,
}

impl Progress {
    /// The check for a run healed at `heal_at` with a window of `window` items.
    pub fn new(heal_at: Instant, window: u64) -> Self {
        Progress { heal_at, window, consumed_since_heal: 0 }
    }
}

impl CheckLogic<Message, StreamParams> for Progress {
    fn observes(&self) -> bool {
        true
    }

    fn observe(&mut self, observation: &Observation) -> Result<(), String> {
        if observation.is("consumed") && observation.at > self.heal_at {
            self.consumed_since_heal += 1;
        }
        Ok(())
    }

    fn evaluate(&mut self, _run: &View<'_>) -> CheckResult {
        match self.consumed_since_heal > self.window {
            true => CheckResult::Pass,
            false => CheckResult::Fail(format!(
                "{} items consumed since the heal at {}, not more than the window of {}",
                self.consumed_since_heal, self.heal_at, self.window
            )),
        }
    }
}

#[cfg(test)]
mod tests {
    use std::borrow::Cow;

    use orrery_sim::trace::OwnedValue;
    use orrery_sim::NodeId;

    use super::*;

    fn observation(kind: &'static str, fields: &[(&'static str, u64)]) -> Observation {
        Observation {
            seq: 0,
            at: Instant::ZERO,
            node: NodeId(0),
            incarnation: 0,
            kind: Cow::Borrowed(kind),
            fields: fields.iter().map(|&(n, v)| (Cow::Borrowed(n), OwnedValue::U64(v))).collect(),
        }
    }

    fn fold(
        check: &mut impl CheckLogic<Message, StreamParams>,
        steps: &[(&'static str, &[(&'static str, u64)])],
    ) -> Result<(), String> {
        steps.iter().try_for_each(|(kind, fields)| check.observe(&observation(kind, fields)))
    }

    // Proves the window check allows exactly `window` in flight, per stream, and fails one
    // past it (a sequence sent before the consumption that would make room).
    #[test]
    fn window_fails_one_past_the_window() {
        let mut window = Window::new(2);
        let steps: [(&str, &[(&str, u64)]); 6] = [
            ("sent", &[("stream", 1), ("seq", 0)]),
            ("sent", &[("stream", 1), ("seq", 1)]),
            ("consumed", &[("stream", 1), ("seq", 0), ("item", 0)]),
            ("sent", &[("stream", 1), ("seq", 2)]),
            ("consumed", &[("stream", 1), ("seq", 1), ("item", 1)]),
            ("sent", &[("stream", 2), ("seq", 1)]),
        ];
        assert_eq!(fold(&mut window, &steps), Ok(()));
        let overrun = fold(&mut window, &[("sent", &[("stream", 1), ("seq", 4)])]);
        assert!(overrun.is_err_and(|why| why.contains("3 in flight, window 2")));
        assert!(fold(&mut Window::new(2), &[("sent", &[("seq", 0)])]).is_err(), "unreadable");
    }

    // Proves FIFO fails on an item delivered again and on one delivered out of order, and
    // allows gaps (losses are the custody check's business).
    #[test]
    fn fifo_fails_on_repeats_and_reordering() {
        let mut fifo = Fifo::default();
        let steps: [(&str, &[(&str, u64)]); 2] = [
            ("consumed", &[("stream", 1), ("seq", 0), ("item", 0)]),
            ("consumed", &[("stream", 1), ("seq", 5), ("item", 5)]),
        ];
        assert_eq!(fold(&mut fifo, &steps), Ok(()));
        let again =
            fold(&mut fifo.clone(), &[("consumed", &[("stream", 2), ("seq", 0), ("item", 5)])]);
        assert!(again.is_err_and(|why| why.contains("item 5 delivered again")));
        let back = fold(&mut fifo, &[("consumed", &[("stream", 2), ("seq", 0), ("item", 3)])]);
        assert!(back.is_err_and(|why| why.contains("item 3 delivered out of order")));
    }

    // Proves custody follows out-of-order arrivals, and a release past a gap fails.
    #[test]
    fn custody_fails_on_a_release_past_a_gap() {
        let mut custody = Custody::default();
        let steps: [(&str, &[(&str, u64)]); 4] = [
            ("received", &[("stream", 1), ("seq", 1)]),
            ("received", &[("stream", 1), ("seq", 0)]),
            ("released", &[("stream", 1), ("below", 2)]),
            ("received", &[("stream", 1), ("seq", 3)]),
        ];
        assert_eq!(fold(&mut custody, &steps), Ok(()));
        let lost = fold(&mut custody, &[("released", &[("stream", 1), ("below", 4)])]);
        assert!(lost.is_err_and(|why| why.contains("never received 2")));
    }

    // Proves custody fails when the application skips an item (the first one included), and
    // leaves a repeat to the FIFO check.
    #[test]
    fn custody_fails_on_a_skipped_item() {
        let consumed = |custody: &mut Custody, items: &[u64]| {
            items.iter().try_for_each(|&item| {
                let fields = [("stream", 1), ("seq", item), ("item", item)];
                custody.observe(&observation("consumed", &fields))
            })
        };
        let skip_first = consumed(&mut Custody::default(), &[1]);
        assert!(skip_first.is_err_and(|why| why.contains("item 0 never delivered")));
        let mut custody = Custody::default();
        assert_eq!(consumed(&mut custody, &[0, 1, 1, 0]), Ok(()));
        let gap = consumed(&mut custody, &[5]);
        assert!(gap.is_err_and(|why| why.contains("items 2 to 4 never delivered")));
    }
}
