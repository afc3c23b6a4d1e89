//! Validation of the fault schedule: timings, each kind's fields and action, node
//! targets (names, roles, domains, rule references, role holders) and partitions.

#[allow(unused_imports)]
use super::*;

impl Validator<'_, '_> {
    pub(super) fn fault(
        &mut self,
        entry: &Spanned<FaultFile>,
        link_default: &LinkConfig,
        disk: &DiskConfig,
    ) -> Option<FaultRule> {
        let fault = &entry.value;
        let index = self.rules.len();
        let name = self.rule_name(fault, index);
        let timing = self.timing(entry);
        let fields_ok = self.fault_fields(fault);
        let trigger = fault.on.is_some();
        let action = if fields_ok { self.action(fault, link_default, disk, trigger) } else { None };
        let restart_after = match &fault.restart_after {
            Some(range) => Some(self.duration_range_file(range, "restart_after")?),
            None => None,
        };
        let picks = matches!(
            &action,
            Some(ActionTemplate::Action {
                target: Target::Random(_) | Target::Each(_) | Target::Rule(_),
                ..
            })
        ) || matches!(&action, Some(ActionTemplate::Action { actions, target: Target::Fixed })
                if actions.iter().any(|a| a.node().is_some()));
        self.rules.push((name.clone(), picks && !trigger));
        if let (Some(ActionTemplate::Action { target, .. }), Some(timing)) = (&action, &timing) {
            self.trigger_target_fits(fault, target, timing);
        }
        let rule = FaultRule { name, timing: timing?, action: action?, restart_after };
        let per_occurrence = match &rule.action {
            ActionTemplate::Action { target: Target::Each(nodes), .. } => nodes.len() as u64,
            _ => 1,
        };
        let occurrences = rule.timing.instants().take(OCCURRENCES_MAX as usize + 1).count();
        let before = self.schedule_actions;
        self.schedule_actions = before.saturating_add(occurrences as u64 * per_occurrence);
        if self.schedule_actions > SCHEDULE_ACTIONS_MAX {
            // Said once, at the rule that crosses the limit.
            if before <= SCHEDULE_ACTIONS_MAX {
                let message = "the fault schedule is too long".to_string();
                let expected = format!("expected at most {SCHEDULE_ACTIONS_MAX} actions in all");
                self.error(ErrorKind::Value, &entry.referenced, message, &expected);
            }
            return None;
        }
        Some(rule)
    }

    /// Checks the entry carries exactly the fields its kind takes.
    pub(super) fn fault_fields(&mut self, fault: &FaultFile) -> bool {
        let kind = fault.kind.value;
        let Some((_, name, required, optional)) = FAULT_FIELDS.iter().find(|row| row.0 == kind)
        else {
            return false;
        };
        let present = fault.action_fields();
        let mut ok = true;
        for (field, at) in &present {
            let allowed =
                required.iter().any(|group| group.contains(field)) || optional.contains(field);
            if !allowed {
                let mut takes: Vec<&str> =
                    required.iter().flat_map(|g| g.iter().copied()).collect();
                takes.extend(optional.iter().copied());
                let message = format!("a `{name}` fault takes no `{field}`");
                let expected = if takes.is_empty() {
                    "it takes only a timing".to_string()
                } else {
                    format!("its fields are {}", takes.join(", "))
                };
                self.error(ErrorKind::Conflict, at, message, &expected);
                ok = false;
            }
        }
        for group in *required {
            let found: Vec<&(&str, &Location)> =
                present.iter().filter(|(field, _)| group.contains(field)).collect();
            // A triggered fault aims at the node that observed when it names none.
            let observer = fault.on.is_some() && found.is_empty() && group.contains(&"node");
            if found.len() != 1 && !observer {
                let listed =
                    group.iter().map(|f| format!("`{f}`")).collect::<Vec<_>>().join(" or ");
                let (message, at) = match found.get(1) {
                    Some((_, at)) => (format!("a `{name}` fault takes only one of {listed}"), **at),
                    None => (format!("a `{name}` fault needs {listed}"), fault.kind.referenced),
                };
                self.error(ErrorKind::Conflict, &at, message, "");
                ok = false;
            }
        }
        ok
    }

    pub(super) fn timing(&mut self, entry: &Spanned<FaultFile>) -> Option<Timing> {
        let fault = &entry.value;
        if let Some(on) = &fault.on {
            for (given, what) in [(&fault.at, "at"), (&fault.every, "every")] {
                if let Some(given) = given {
                    let message = format!("a fault has both `on` and `{what}`");
                    let expected = "expected one timing: `at`, `every` or `on`";
                    self.error(ErrorKind::Conflict, &given.referenced, message, expected);
                    return None;
                }
            }
            return self.trigger(on).map(Timing::On);
        }
        match (&fault.at, &fault.every) {
            (Some(at), None) => {
                for extra in [&fault.after, &fault.until].into_iter().flatten() {
                    let message = "`after` and `until` go with `every`, not `at`".to_string();
                    self.error(ErrorKind::Conflict, &extra.referenced, message, "");
                }
                let instant = self.instant(at, "at")?;
                self.within_chaos(instant, &at.referenced, "at")?;
                Some(Timing::At(instant))
            }
            (None, Some(every)) => {
                let period = self.duration(every, "every");
                let after = match &fault.after {
                    Some(after) => self.instant(after, "after"),
                    None => Some(Instant::ZERO),
                };
                let until = match &fault.until {
                    Some(until) => self.duration(until, "until").and_then(|until| {
                        let until = Instant::from_nanos(until.as_nanos());
                        if until > self.vtime_max {
                            let message =
                                format!("`until` {} is after the run's end", until.since_start());
                            let expected =
                                format!("expected at most limits.vtime_max ({})", self.vtime());
                            self.error(
                                ErrorKind::Value,
                                &fault.until.as_ref()?.referenced,
                                message,
                                &expected,
                            );
                            return None;
                        }
                        Some(until)
                    }),
                    None => Some(self.chaos_end),
                };
                let (period, after, until) = (period?, after?, until?);
                if let Some(text) = &fault.after {
                    self.within_chaos(after, &text.referenced, "after")?;
                }
                if let Some(text) = &fault.until {
                    if until > self.chaos_end {
                        let message = format!(
                            "`until` {} is after the chaos phase ends ({}): faults stop there",
                            until.since_start(),
                            self.chaos_end.since_start()
                        );
                        let expected = "expected `until` at most phases.chaos";
                        self.error(ErrorKind::Value, &text.referenced, message, expected);
                        return None;
                    }
                }
                if after >= until {
                    let message = format!(
                        "`after` {} is not before `until` {}: the fault never fires",
                        after.since_start(),
                        until.since_start()
                    );
                    let at = fault.after.as_ref().map_or(every.referenced, |a| a.referenced);
                    self.error(ErrorKind::Conflict, &at, message, "expected after < until");
                    return None;
                }
                let span = until.saturating_since(after).as_nanos();
                if period.is_zero() || span / period.as_nanos().max(1) >= OCCURRENCES_MAX {
                    let message = format!("`every: {period}` fires too often");
                    let expected = format!("expected at most {OCCURRENCES_MAX} occurrences");
                    self.error(ErrorKind::Value, &every.referenced, message, &expected);
                    return None;
                }
                Some(Timing::Every { period, after, until })
            }
            (Some(_), Some(every)) => {
                let message = "a fault has both `at` and `every`".to_string();
                self.error(ErrorKind::Conflict, &every.referenced, message, "expected one of them");
                None
            }
            (None, None) => {
                let message = "a fault needs a time: `at`, `every` or `on`".to_string();
                self.error(
                    ErrorKind::Conflict,
                    &entry.referenced,
                    message,
                    "expected e.g. `at: 2s`",
                );
                None
            }
        }
    }

    /// The action of a fault whose fields fit its kind.
    pub(super) fn action(
        &mut self,
        fault: &FaultFile,
        link_default: &LinkConfig,
        disk: &DiskConfig,
        trigger: bool,
    ) -> Option<ActionTemplate> {
        let placeholder = NodeId(0);
        let fixed =
            |action| Some(ActionTemplate::Action { actions: vec![action], target: Target::Fixed });
        let on_nodes = |this: &mut Self, actions: Vec<ControlAction>| -> Option<ActionTemplate> {
            let target = match (&fault.node, &fault.domain) {
                (Some(node), _) => this.target(node)?,
                (None, Some(domain)) => this.domain(domain)?,
                (None, None) if trigger => Target::Observer,
                (None, None) => Target::Fixed,
            };
            Some(template(actions, target))
        };
        let on_node = |this: &mut Self, action: ControlAction| on_nodes(this, vec![action]);
        match fault.kind.value {
            FaultKind::Crash => on_node(self, ControlAction::Crash(placeholder)),
            FaultKind::Restart => on_node(self, ControlAction::Restart(placeholder)),
            FaultKind::Start => on_node(self, ControlAction::Start(placeholder)),
            // A shorthand for the three one-thing actions that bring a node back.
            FaultKind::Recover => on_nodes(
                self,
                vec![
                    ControlAction::Start(placeholder),
                    ControlAction::Resume(placeholder),
                    ControlAction::SetNodeUp { node: placeholder, up: true },
                ],
            ),
            FaultKind::DisarmCrashPoint => {
                on_node(self, ControlAction::DisarmCrashPoint(placeholder))
            }
            FaultKind::Pause => on_node(self, ControlAction::Pause(placeholder)),
            FaultKind::Resume => on_node(self, ControlAction::Resume(placeholder)),
            FaultKind::SetClock => {
                let offset = fault.offset.as_ref()?;
                let offset_nanos = self.signed_duration(offset, "offset");
                let drift_ppm = fault.drift_ppm.as_ref().map_or(0, |d| d.value);
                let action = ControlAction::SetClock {
                    node: placeholder,
                    offset_nanos: offset_nanos?,
                    drift_ppm,
                };
                on_node(self, action)
            }
            FaultKind::SetNodeUp => {
                let up = fault.up.as_ref()?.value;
                on_node(self, ControlAction::SetNodeUp { node: placeholder, up })
            }
            FaultKind::Partition => self.partition(fault),
            FaultKind::Heal => fixed(ControlAction::Heal),
            FaultKind::Unclog => fixed(ControlAction::Unclog),
            FaultKind::Clog => {
                let duration = self.duration(fault.duration.as_ref()?, "duration");
                match (&fault.from, &fault.to) {
                    (Some(from), Some(to)) => {
                        let (from, to) = (self.node(from), self.node(to));
                        fixed(ControlAction::ClogLink { from: from?, to: to?, duration: duration? })
                    }
                    (Some(from), None) => {
                        let message = "a clog `from` a node needs `to`".to_string();
                        self.error(
                            ErrorKind::Conflict,
                            &from.referenced,
                            message,
                            "expected `to: <node>`",
                        );
                        None
                    }
                    (None, Some(to)) => {
                        let message =
                            "`to` goes with `from`; a node clog takes only `node`".to_string();
                        self.error(ErrorKind::Conflict, &to.referenced, message, "");
                        None
                    }
                    (None, None) => on_node(
                        self,
                        ControlAction::ClogNode { node: placeholder, duration: duration? },
                    ),
                }
            }
            FaultKind::SetLoss | FaultKind::SetDuplicate | FaultKind::SetCorrupt => {
                let probability = fault.probability.as_ref()?;
                let p = self.probability(probability, "probability")?;
                fixed(match fault.kind.value {
                    FaultKind::SetLoss => ControlAction::SetLoss(p),
                    FaultKind::SetDuplicate => ControlAction::SetDuplicate(p),
                    _ => ControlAction::SetCorrupt(p),
                })
            }
            FaultKind::SetDefaultLink => {
                let link = fault.link.as_ref()?;
                self.link_fields_only(link);
                fixed(ControlAction::SetDefaultLink(self.link(*link_default, link)))
            }
            FaultKind::SetLink => {
                let link = fault.link.as_ref()?;
                self.link_fields_only(link);
                let (from, to) = (fault.from.as_ref()?, fault.to.as_ref()?);
                let (from, to) = (self.node(from), self.node(to));
                let base = match (from, to) {
                    (Some(a), Some(b)) => {
                        self.topology.link(a, b).copied().unwrap_or(*link_default)
                    }
                    _ => *link_default,
                };
                let config = self.link(base, link);
                fixed(ControlAction::SetLink { from: from?, to: to?, config })
            }
            FaultKind::SetCapacity => {
                let capacity = fault.capacity_packets.as_ref()?;
                if capacity.value == 0 {
                    let message = "`capacity_packets` is 0: links could carry nothing".to_string();
                    self.error(
                        ErrorKind::Value,
                        &capacity.referenced,
                        message,
                        "expected at least 1",
                    );
                    return None;
                }
                fixed(ControlAction::SetCapacity(capacity.value))
            }
            FaultKind::SetDisk => {
                let config = self.disk(*disk, fault.disk.as_ref()?);
                match &fault.node {
                    Some(_) => {
                        on_node(self, ControlAction::SetDisk { node: Some(placeholder), config })
                    }
                    None => fixed(ControlAction::SetDisk { node: None, config }),
                }
            }
            FaultKind::CrashAtDiskOperation => {
                let operation = fault.operation.as_ref()?;
                if operation.value == 0 {
                    let message = "`operation` counts from 1".to_string();
                    self.error(
                        ErrorKind::Value,
                        &operation.referenced,
                        message,
                        "expected at least 1",
                    );
                    return None;
                }
                on_node(
                    self,
                    ControlAction::CrashAtDiskOperation {
                        node: placeholder,
                        operation: operation.value,
                        restart_after: None,
                    },
                )
            }
        }
    }

    /// A link setting inside a fault carries no `from`, `to` or `links` of its own.
    pub(super) fn link_fields_only(&mut self, link: &Spanned<LinkFile>) {
        let file = &link.value;
        let stray = [
            ("from", file.from.as_ref().map(|f| f.referenced)),
            ("to", file.to.as_ref().map(|f| f.referenced)),
            ("links", file.links.as_ref().map(|_| link.referenced)),
            ("zones", file.zones.as_ref().map(|_| link.referenced)),
        ];
        for (field, at) in stray {
            if let Some(at) = at {
                let message = format!("`link` takes no `{field}`");
                self.error(ErrorKind::Conflict, &at, message, "expected link settings only");
            }
        }
    }

    pub(super) fn target(&mut self, node: &Spanned<NodeRefFile>) -> Option<Target> {
        match &node.value {
            NodeRefFile::Named(name) => {
                let id = self.node(&Spanned::new(name.clone(), node.referenced, node.defined))?;
                Some(Target::Each(vec![id]))
            }
            NodeRefFile::Random => Some(Target::Random(self.topology.nodes().collect())),
            NodeRefFile::RandomWithRole(role) => {
                let nodes =
                    self.role(&Spanned::new(role.clone(), node.referenced, node.defined))?;
                Some(Target::Random(nodes))
            }
            NodeRefFile::AllWithRole(role) => {
                let nodes =
                    self.role(&Spanned::new(role.clone(), node.referenced, node.defined))?;
                Some(Target::Each(nodes))
            }
            NodeRefFile::Rule(name) => {
                let found = self.rules.iter().position(|(rule, _)| rule == name);
                match found {
                    Some(index) if self.rules[index].1 => Some(Target::Rule(index)),
                    Some(_) => {
                        let message =
                            format!("rule `{name}` picks no node this fault could aim at");
                        let expected = "expected a timed rule that aims at a node";
                        self.error(ErrorKind::Reference, &node.referenced, message, expected);
                        None
                    }
                    None => {
                        let message = format!("no fault rule before this one is named `{name}`");
                        let names: Vec<&str> = self.rules.iter().map(|(n, _)| n.as_str()).collect();
                        let expected = match names.is_empty() {
                            true => "name a rule with `name:` above this one".to_string(),
                            false => format!("expected one of {}", names.join(", ")),
                        };
                        self.error(ErrorKind::Reference, &node.referenced, message, &expected);
                        None
                    }
                }
            }
            NodeRefFile::Holding { role, otherwise } => {
                let otherwise = match otherwise {
                    OtherwiseFile::Skip => RoleFallback::Skip,
                    OtherwiseFile::Random => RoleFallback::Random(self.topology.nodes().collect()),
                    OtherwiseFile::RandomWithRole(fallback) => RoleFallback::Random(
                        self.role(&Spanned::new(fallback.clone(), node.referenced, node.defined))?,
                    ),
                    OtherwiseFile::RandomOf(names) => {
                        let spanned: Vec<Spanned<String>> = names
                            .iter()
                            .map(|name| Spanned::new(name.clone(), node.referenced, node.defined))
                            .collect();
                        RoleFallback::Random(self.nodes(&spanned)?)
                    }
                };
                Some(Target::Holding { role: role.clone(), otherwise })
            }
        }
    }

    /// The nodes a selector names: a list, or every node of a role or failure domain.
    pub(super) fn selector(&mut self, selector: &Spanned<SelectorFile>) -> Option<Vec<NodeId>> {
        let at = selector.referenced;
        let domain = |this: &mut Self, kind: DomainKind, value: &String| {
            let nodes = this.topology.nodes_in(kind, value);
            if nodes.is_empty() {
                let message = format!("unknown {} `{value}`", kind.name());
                let known = this.topology.domains(kind);
                let expected = format!("expected one of {}", known.join(", "));
                this.error(ErrorKind::Reference, &at, message, &expected);
                return None;
            }
            Some(nodes)
        };
        match &selector.value {
            SelectorFile::Names(names) => {
                let spanned: Vec<Spanned<String>> =
                    names.iter().map(|n| Spanned::new(n.clone(), at, selector.defined)).collect();
                self.nodes(&spanned)
            }
            SelectorFile::Role(role) => {
                self.role(&Spanned::new(role.clone(), at, selector.defined))
            }
            SelectorFile::Zone(zone) => domain(self, DomainKind::Zone, zone),
            SelectorFile::Rack(rack) => domain(self, DomainKind::Rack, rack),
            SelectorFile::Machine(machine) => domain(self, DomainKind::Machine, machine),
        }
    }

    /// A rule's name: `name:` (unique), or its position.
    fn rule_name(&mut self, fault: &FaultFile, index: usize) -> String {
        let Some(name) = &fault.name else { return format!("fault[{index}]") };
        if self.rules.iter().any(|(other, _)| *other == name.value) {
            let message = format!("two fault rules are named `{}`", name.value);
            self.error(ErrorKind::Conflict, &name.referenced, message, "expected unique names");
        }
        name.value.clone()
    }

    /// An instant a timed fault fires at must fall inside the chaos phase.
    fn within_chaos(&mut self, instant: Instant, at: &Location, what: &str) -> Option<()> {
        if instant < self.chaos_end {
            return Some(());
        }
        let message = format!(
            "`{what}` {} is not inside the chaos phase ({}): the fault would never apply",
            instant.since_start(),
            self.chaos_end.since_start()
        );
        self.error(ErrorKind::Value, at, message, "expected a time below phases.chaos");
        None
    }

    /// `on: {event, node, probability, budget, when}`.
    fn trigger(&mut self, on: &Spanned<TriggerFile>) -> Option<TriggerRule> {
        let file = &on.value;
        if file.event.value.is_empty() {
            let message = "`event` is empty".to_string();
            self.error(ErrorKind::Value, &file.event.referenced, message, "expected an event kind");
        }
        let nodes = match &file.nodes {
            None => None,
            Some(selector) => Some(self.selector(selector)?),
        };
        let probability = match &file.probability {
            Some(p) => self.probability(p, "probability")?,
            None => 1.0,
        };
        let budget = file.budget.as_ref().map(|b| b.value);
        let when = match file.when.as_ref().map(|w| w.value) {
            Some(WhenFile::Before) => TriggerWhen::Before,
            _ => TriggerWhen::After,
        };
        Some(TriggerRule { event: file.event.value.clone(), nodes, probability, budget, when })
    }

    /// A triggered fault aims at the observer, a named node or a role holder; `when: before`
    /// only cuts the observer's own power.
    fn trigger_target_fits(&mut self, fault: &FaultFile, target: &Target, timing: &Timing) {
        let Timing::On(trigger) = timing else { return };
        let at = fault.node.as_ref().map_or(fault.kind.referenced, |n| n.referenced);
        if matches!(target, Target::Random(_) | Target::Rule(_)) {
            let message = "a triggered fault cannot pick a random node".to_string();
            let expected = "expected no `node` (the observer), a node name or `{holding: ROLE}`";
            self.error(ErrorKind::Conflict, &at, message, expected);
        }
        let observer_crash = fault.kind.value == FaultKind::Crash && *target == Target::Observer;
        if trigger.when == TriggerWhen::Before && !observer_crash {
            let message =
                "`when: before` cuts power mid-callback: only a crash of the observer".to_string();
            let expected = "expected `kind: crash` without `node`, or `when: after`";
            self.error(ErrorKind::Conflict, &at, message, expected);
        }
    }

    /// A duration or `[min, max]`.
    pub(super) fn duration_range_file(
        &mut self,
        range: &Spanned<DurationRangeFile>,
        what: &str,
    ) -> Option<(Duration, Duration)> {
        let at = range.referenced;
        match &range.value {
            DurationRangeFile::One(text) => {
                let value = self.duration_in(text, what, &at)?;
                Some((value, value))
            }
            DurationRangeFile::Range(low, high) => {
                let (low, high) =
                    (self.duration_in(low, what, &at), self.duration_in(high, what, &at));
                let (low, high) = (low?, high?);
                if low > high {
                    let message = format!("`{what}` [{low}, {high}] is empty");
                    self.error(
                        ErrorKind::Value,
                        &at,
                        message,
                        "expected [min, max] with min <= max",
                    );
                    return None;
                }
                Some((low, high))
            }
        }
    }

    /// The nodes with this role; an error at the role if there are none.
    pub(super) fn role(&mut self, role: &Spanned<String>) -> Option<Vec<NodeId>> {
        let nodes = self.topology.nodes_with_role(&role.value);
        if nodes.is_empty() {
            let message = format!("no node has role `{}`", role.value);
            let mut roles: Vec<String> = self
                .topology
                .nodes()
                .filter_map(|n| self.topology.node(n).map(|s| s.role.clone()))
                .filter(|r| !r.is_empty())
                .collect();
            roles.sort();
            roles.dedup();
            let expected = format!("expected one of the roles: {}", roles.join(", "));
            self.error(ErrorKind::Reference, &role.referenced, message, &expected);
            return None;
        }
        Some(nodes)
    }

    pub(super) fn domain(&mut self, domain: &Spanned<DomainFile>) -> Option<Target> {
        let file = &domain.value;
        let given: Vec<(DomainKind, &String)> = [
            (DomainKind::Machine, &file.machine),
            (DomainKind::Rack, &file.rack),
            (DomainKind::Zone, &file.zone),
        ]
        .into_iter()
        .filter_map(|(kind, value)| Some((kind, value.as_ref()?)))
        .collect();
        let [(kind, value)] = given.as_slice() else {
            let message = "a domain names exactly one of `machine`, `rack` or `zone`".to_string();
            self.error(
                ErrorKind::Conflict,
                &domain.referenced,
                message,
                "expected e.g. `{zone: b}`",
            );
            return None;
        };
        let nodes = self.topology.nodes_in(*kind, value);
        if nodes.is_empty() {
            let message = format!("unknown {} `{value}`", kind.name());
            let known = self.topology.domains(*kind);
            let expected = if known.is_empty() {
                format!("no node has a {}", kind.name())
            } else {
                format!("expected one of {}", known.join(", "))
            };
            self.error(ErrorKind::Reference, &domain.referenced, message, &expected);
            return None;
        }
        Some(Target::Each(nodes))
    }

    pub(super) fn signed_duration(&mut self, text: &Spanned<String>, what: &str) -> Option<i64> {
        let (negative, magnitude) = match text.value.trim().strip_prefix('-') {
            Some(rest) => (true, rest.to_string()),
            None => (false, text.value.clone()),
        };
        let duration =
            self.duration(&Spanned::new(magnitude, text.referenced, text.defined), what)?;
        let Ok(nanos) = i64::try_from(duration.as_nanos()) else {
            let message = format!("`{what}` {duration} is too large");
            self.error(ErrorKind::Value, &text.referenced, message, "expected at most 292 years");
            return None;
        };
        Some(if negative { -nanos } else { nanos })
    }

    pub(super) fn partition(&mut self, fault: &FaultFile) -> Option<ActionTemplate> {
        let duration = match &fault.duration {
            Some(text) => Some(self.duration(text, "duration")?),
            None => None,
        };
        let shape = |shape| ActionTemplate::Action {
            actions: vec![ControlAction::Partition { shape, duration }],
            target: Target::Fixed,
        };
        if let Some(groups) = &fault.groups {
            let mut seen = BTreeSet::new();
            let mut list = Vec::new();
            for group in &groups.value {
                let mut members = Vec::new();
                for name in group {
                    let Some(node) = self.node(name) else { continue };
                    if !seen.insert(node) {
                        let message =
                            format!("node `{}` is in more than one partition group", name.value);
                        self.error(
                            ErrorKind::Conflict,
                            &name.referenced,
                            message,
                            "expected groups that do not overlap",
                        );
                    }
                    members.push(node);
                }
                list.push(members);
            }
            if list.len() > 64 {
                let message = format!("{} partition groups", list.len());
                self.error(ErrorKind::Value, &groups.referenced, message, "expected at most 64");
            }
            return Some(shape(PartitionShape::Groups(list)));
        }
        if let Some(isolate) = &fault.isolate {
            let target = self.target(isolate)?;
            let action =
                ControlAction::Partition { shape: PartitionShape::Isolate(NodeId(0)), duration };
            return Some(template(vec![action], target));
        }
        if let Some(one_way) = &fault.one_way {
            let (from, to) = (self.selector(&one_way.value.from), self.selector(&one_way.value.to));
            return Some(shape(PartitionShape::OneWay { from: from?, to: to? }));
        }
        if let Some(ring) = &fault.ring {
            let order = match &ring.value.order {
                Some(order) => self.nodes(order)?,
                None => self.topology.nodes().collect(),
            };
            if order.len() > 64 {
                let message = format!("a ring of {} nodes", order.len());
                self.error(ErrorKind::Value, &ring.referenced, message, "expected at most 64");
                return None;
            }
            let reach = ring.value.reach as usize;
            return Some(shape(PartitionShape::Ring { order, reach }));
        }
        if let Some(bridge) = &fault.bridge {
            let file = &bridge.value;
            let (left, middle, right) =
                (self.nodes(&file.left), self.node(&file.bridge), self.nodes(&file.right));
            return Some(shape(PartitionShape::Bridge {
                left: left?,
                bridge: middle?,
                right: right?,
            }));
        }
        let random = fault.random.as_ref()?;
        if self.topology.len() < 2 {
            let message = "a random partition needs at least two nodes".to_string();
            self.error(ErrorKind::Value, &random.referenced, message, "");
            return None;
        }
        let majority_minority = random.value == RandomSplitFile::MajorityMinority;
        Some(ActionTemplate::RandomSplit { majority_minority, duration })
    }
}

/// A node-targeted action, made concrete when its target is a single named node.
pub(super) fn template(actions: Vec<ControlAction>, target: Target) -> ActionTemplate {
    match target {
        Target::Each(nodes) if nodes.len() == 1 => ActionTemplate::Action {
            actions: actions.iter().map(|action| action.with_node(nodes[0])).collect(),
            target: Target::Fixed,
        },
        target => ActionTemplate::Action { actions, target },
    }
}
