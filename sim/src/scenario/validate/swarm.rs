//! Validation of swarm fault families and the value ranges they draw from.

#[allow(unused_imports)]
use super::*;

impl Validator<'_, '_> {
    pub(super) fn swarm(&mut self, file: &ScenarioFile) -> Vec<FamilyRule> {
        let Some(swarm) = &file.swarm else { return Vec::new() };
        let families = [
            (Family::Partition, &swarm.partition),
            (Family::Clog, &swarm.clog),
            (Family::Crash, &swarm.crash),
            (Family::Pause, &swarm.pause),
            (Family::Loss, &swarm.loss),
            (Family::Duplicate, &swarm.duplicate),
            (Family::Corrupt, &swarm.corrupt),
            (Family::ClockSkew, &swarm.clock_skew),
            (Family::DiskErrors, &swarm.disk_errors),
        ];
        families
            .into_iter()
            .filter_map(|(family, spec)| self.family(family, spec.as_ref()?))
            .collect()
    }

    pub(super) fn family(
        &mut self,
        family: Family,
        spec: &Spanned<FamilyFile>,
    ) -> Option<FamilyRule> {
        let file = &spec.value;
        let name = family.name();
        let (_, required, optional) = FAMILY_FIELDS.iter().find(|row| row.0 == family)?;
        let present = file.fields();
        for (field, at) in &present {
            if !required.contains(field) && !optional.contains(field) {
                let mut takes: Vec<&str> = vec!["probability"];
                takes.extend(required.iter().chain(optional.iter()));
                let message = format!("swarm family `{name}` takes no `{field}`");
                let expected = format!("its fields are {}", takes.join(", "));
                self.error(ErrorKind::Conflict, at, message, &expected);
            }
        }
        for field in *required {
            if !present.iter().any(|(f, _)| f == field) {
                let message = format!("swarm family `{name}` needs `{field}`");
                self.error(
                    ErrorKind::Conflict,
                    &spec.referenced,
                    message,
                    "expected `[low, high]`",
                );
            }
        }
        let probability = self.probability(&file.probability, "probability");
        let interval = file.interval.as_ref().and_then(|r| self.duration_range(r, "interval"));
        let duration = file.duration.as_ref().and_then(|r| self.duration_range(r, "duration"));
        let rate = file.rate.as_ref().and_then(|r| {
            let (low, high) = self.pair(r, "rate")?;
            let low = self.probability(low, "rate")?;
            let high = self.probability(high, "rate")?;
            self.ordered(low, high, r, "rate")
        });
        let offset = file.offset.as_ref().and_then(|r| {
            let (low, high) = self.pair(r, "offset")?;
            let low = self.signed_duration(low, "offset")?;
            let high = self.signed_duration(high, "offset")?;
            self.ordered(low, high, r, "offset")
        });
        let drift_ppm = file.drift_ppm.as_ref().and_then(|r| {
            let (low, high) = self.pair(r, "drift_ppm")?;
            self.ordered(low.value, high.value, r, "drift_ppm")
        });
        if let (Some((low, _)), Some(spanned)) = (interval, &file.interval) {
            if low.is_zero()
                || self.phases_chaos().as_nanos() / low.as_nanos().max(1) >= OCCURRENCES_MAX
            {
                let message = format!("swarm `{name}` interval starting at {low} fires too often");
                let expected =
                    format!("expected at most {OCCURRENCES_MAX} events in the chaos phase");
                self.error(ErrorKind::Value, &spanned.referenced, message, &expected);
            }
        }
        let nodes = match &file.role {
            Some(role) => Some(self.role(role)?),
            None => None,
        };
        let rule = FamilyRule {
            family,
            probability: probability?,
            interval,
            duration,
            rate,
            offset,
            drift_ppm,
            nodes,
        };
        let complete = required.iter().all(|field| match *field {
            "interval" => rule.interval.is_some(),
            "duration" => rule.duration.is_some(),
            "rate" => rule.rate.is_some(),
            "offset" => rule.offset.is_some(),
            _ => true,
        });
        complete.then_some(rule)
    }

    pub(super) fn phases_chaos(&self) -> Duration {
        self.chaos_end.since_start()
    }

    pub(super) fn pair<'v, T>(
        &mut self,
        range: &'v Spanned<Vec<Spanned<T>>>,
        what: &str,
    ) -> Option<(&'v Spanned<T>, &'v Spanned<T>)> {
        match range.value.as_slice() {
            [low, high] => Some((low, high)),
            other => {
                let message = format!("`{what}` has {} values", other.len());
                self.error(ErrorKind::Value, &range.referenced, message, "expected `[low, high]`");
                None
            }
        }
    }

    pub(super) fn ordered<T: PartialOrd + std::fmt::Debug, R>(
        &mut self,
        low: T,
        high: T,
        range: &Spanned<R>,
        what: &str,
    ) -> Option<(T, T)> {
        if low > high {
            let message = format!("`{what}` range [{low:?}, {high:?}] is inverted");
            self.error(ErrorKind::Value, &range.referenced, message, "expected low <= high");
            return None;
        }
        Some((low, high))
    }

    pub(super) fn duration_range(
        &mut self,
        range: &Spanned<Vec<Spanned<String>>>,
        what: &str,
    ) -> Option<(Duration, Duration)> {
        let (low, high) = self.pair(range, what)?;
        let (low, high) = (self.duration(low, what), self.duration(high, what));
        self.ordered(low?, high?, range, what)
    }
}
