//! Validation of link settings: defaults, per-link overrides and latency distributions.

#[allow(unused_imports)]
use super::*;

impl Validator<'_, '_> {
    pub(super) fn network(&mut self, network: &Spanned<LinkFile>) -> LinkConfig {
        let file = &network.value;
        for (field, at) in [("from", &file.from), ("to", &file.to)] {
            if let Some(at) = at {
                let message = format!("`network` takes no `{field}`");
                let expected = "expected it in an entry of `network.links`";
                self.error(ErrorKind::Conflict, &at.referenced, message, expected);
            }
        }
        let default = self.link(LinkConfig::default(), network);
        // Zones first: a per-link override below is more specific and wins.
        for zone_link in file.zones.iter().flatten() {
            self.zone_link(default, zone_link);
        }
        for link in file.links.iter().flatten() {
            let config = self.link(default, link);
            let link = &link.value;
            let (Some(from), Some(to)) = (&link.from, &link.to) else {
                let message = "a link override needs `from` and `to`".to_string();
                let at = link.from.as_ref().map_or(network.referenced, |f| f.referenced);
                self.error(ErrorKind::Conflict, &at, message, "expected `{from: n0, to: n1, ...}`");
                continue;
            };
            if let Some(nested) = &link.links {
                let at = nested.first().map_or(network.referenced, |l| l.referenced);
                let message = "link overrides cannot nest `links`".to_string();
                self.error(ErrorKind::Conflict, &at, message, "expected link settings only");
            }
            if let (Some(a), Some(b)) = (self.node(from), self.node(to)) {
                self.topology.set_link(a, b, config);
            }
        }
        default
    }

    /// One entry of the zone latency matrix: every directed pair of nodes between the zones
    /// gets `default` with this latency.
    fn zone_link(&mut self, default: LinkConfig, entry: &Spanned<ZoneLinkFile>) {
        let file = &entry.value;
        let pairs: Vec<(&Spanned<String>, &Spanned<String>)> =
            match (&file.between, &file.from, &file.to) {
                (Some(between), None, None) => match between.value.as_slice() {
                    [a, b] => vec![(a, b), (b, a)],
                    _ => {
                        let message = format!("`between` names {} zones", between.value.len());
                        self.error(
                            ErrorKind::Value,
                            &between.referenced,
                            message,
                            "expected two zones",
                        );
                        return;
                    }
                },
                (None, Some(from), Some(to)) => vec![(from, to)],
                _ => {
                    let message =
                        "a zone latency names `between: [a, b]`, or `from` and `to`".to_string();
                    self.error(
                        ErrorKind::Conflict,
                        &entry.referenced,
                        message,
                        "expected one of the two",
                    );
                    return;
                }
            };
        let Some(latency) = self.latency(&file.latency) else { return };
        let config = LinkConfig { latency, ..default };
        for (from, to) in pairs {
            let (Some(sources), Some(targets)) = (self.zone(from), self.zone(to)) else { continue };
            for &a in &sources {
                for &b in targets.iter().filter(|b| **b != a) {
                    self.topology.set_link(a, b, config);
                }
            }
        }
    }

    /// The nodes of a zone; an error at the name if there are none.
    fn zone(&mut self, zone: &Spanned<String>) -> Option<Vec<NodeId>> {
        let nodes = self.topology.nodes_in(DomainKind::Zone, &zone.value);
        if nodes.is_empty() {
            let message = format!("unknown zone `{}`", zone.value);
            let known = self.topology.domains(DomainKind::Zone);
            let expected = match known.is_empty() {
                true => "no node has a zone".to_string(),
                false => format!("expected one of {}", known.join(", ")),
            };
            self.error(ErrorKind::Reference, &zone.referenced, message, &expected);
            return None;
        }
        Some(nodes)
    }

    /// `base` with the settings of `file` applied.
    pub(super) fn link(&mut self, base: LinkConfig, file: &Spanned<LinkFile>) -> LinkConfig {
        let link = &file.value;
        let mut config = base;
        if let Some(latency) = &link.latency {
            config.latency = self.latency(latency).unwrap_or(config.latency);
        }
        let rates = [
            (&link.loss_probability, "loss_probability", &mut config.loss_probability),
            (
                &link.duplicate_probability,
                "duplicate_probability",
                &mut config.duplicate_probability,
            ),
            (&link.corrupt_probability, "corrupt_probability", &mut config.corrupt_probability),
        ];
        for (value, what, slot) in rates {
            if let Some(value) = value {
                *slot = probability_in(self.d, value.value, what, &value.referenced).unwrap_or(0.0);
            }
        }
        if let Some(capacity) = &link.capacity_packets {
            if capacity.value == 0 {
                let message = "`capacity_packets` is 0: the link could carry nothing".to_string();
                self.error(ErrorKind::Value, &capacity.referenced, message, "expected at least 1");
            }
            config.capacity_packets = capacity.value;
        }
        if let Some(when_full) = link.when_full {
            config.when_full = match when_full {
                WhenFullFile::DropTail => WhenFull::DropTail,
                WhenFullFile::Reject => WhenFull::Reject,
            };
        }
        config.fifo = link.fifo.unwrap_or(config.fifo);
        config
    }

    pub(super) fn latency(&mut self, file: &Spanned<LatencyFile>) -> Option<Latency> {
        let at = file.referenced;
        let latency = match &file.value {
            LatencyFile::Fixed { value } => Latency::Fixed(self.duration_in(value, "value", &at)?),
            LatencyFile::Uniform { min, max } => Latency::Uniform {
                min: self.duration_in(min, "min", &at)?,
                max: self.duration_in(max, "max", &at)?,
            },
            LatencyFile::Exponential { min, mean } => Latency::Exponential {
                min: self.duration_in(min, "min", &at)?,
                mean: self.duration_in(mean, "mean", &at)?,
            },
            LatencyFile::LongTail { min, max, slow_probability, slow_min, slow_max } => {
                Latency::LongTail {
                    min: self.duration_in(min, "min", &at)?,
                    max: self.duration_in(max, "max", &at)?,
                    slow_probability: probability_in(
                        self.d,
                        *slow_probability,
                        "slow_probability",
                        &at,
                    )?,
                    slow_min: self.duration_in(slow_min, "slow_min", &at)?,
                    slow_max: self.duration_in(slow_max, "slow_max", &at)?,
                }
            }
            LatencyFile::Pareto { min, shape, max } => Latency::Pareto {
                min: self.duration_in(min, "min", &at)?,
                shape: *shape,
                max: self.duration_in(max, "max", &at)?,
            },
            LatencyFile::Lognormal { median, sigma, max } => Latency::Lognormal {
                median: self.duration_in(median, "median", &at)?,
                sigma: *sigma,
                max: self.duration_in(max, "max", &at)?,
            },
            // Two uniform modes is the long tail's distribution, written by its modes.
            LatencyFile::Bimodal { fast, slow, slow_probability } => {
                let mode = |this: &mut Self, range: &[String], what: &str| match range {
                    [low, high] => Some((
                        this.duration_in(low, what, &at)?,
                        this.duration_in(high, what, &at)?,
                    )),
                    _ => {
                        let message = format!("`{what}` has {} values", range.len());
                        this.error(ErrorKind::Value, &at, message, "expected [min, max]");
                        None
                    }
                };
                let (fast, slow) = (mode(self, fast, "fast"), mode(self, slow, "slow"));
                let ((min, max), (slow_min, slow_max)) = (fast?, slow?);
                Latency::LongTail {
                    min,
                    max,
                    slow_probability: probability_in(
                        self.d,
                        *slow_probability,
                        "slow_probability",
                        &at,
                    )?,
                    slow_min,
                    slow_max,
                }
            }
        };
        if let Err(problem) = latency.validate() {
            let message = format!("invalid latency: {problem}");
            self.error(ErrorKind::Value, &at, message, "expected ordered bounds and a valid shape");
            return None;
        }
        Some(latency)
    }
}
