//! Validation of disk settings.

#[allow(unused_imports)]
use super::*;

impl Validator<'_, '_> {
    pub(super) fn disk(&mut self, base: DiskConfig, file: &Spanned<DiskFile>) -> DiskConfig {
        let disk = &file.value;
        let mut config = base;
        if let Some(sector) = &disk.sector_size_bytes {
            if sector.value == 0 {
                let message = "`sector_size_bytes` is 0".to_string();
                self.error(ErrorKind::Value, &sector.referenced, message, "expected at least 1");
            }
            config.sector_size_bytes = sector.value;
        }
        config.capacity_bytes = disk.capacity_bytes.unwrap_or(config.capacity_bytes);
        config.in_flight_max = disk.in_flight_max.unwrap_or(config.in_flight_max);
        if let Some(mode) = disk.crash_unsynced {
            config.crash_unsynced = match mode {
                UnsyncedFile::Lost => UnsyncedOnCrash::Lost,
                UnsyncedFile::Kept => UnsyncedOnCrash::Kept,
                UnsyncedFile::Torn => UnsyncedOnCrash::Torn,
                UnsyncedFile::Reordered => UnsyncedOnCrash::Reordered,
                UnsyncedFile::Random => UnsyncedOnCrash::Random,
            };
        }
        let rates = [
            (
                &disk.read_error_probability,
                "read_error_probability",
                &mut config.read_error_probability,
            ),
            (
                &disk.write_error_probability,
                "write_error_probability",
                &mut config.write_error_probability,
            ),
            (
                &disk.read_corruption_probability,
                "read_corruption_probability",
                &mut config.read_corruption_probability,
            ),
            (
                &disk.latent_corruption_probability,
                "latent_corruption_probability",
                &mut config.latent_corruption_probability,
            ),
            (
                &disk.misdirected_write_probability,
                "misdirected_write_probability",
                &mut config.misdirected_write_probability,
            ),
            (&disk.slow_probability, "slow_probability", &mut config.slow_probability),
            (
                &disk.crash_probability_per_operation,
                "crash_probability_per_operation",
                &mut config.crash_probability_per_operation,
            ),
        ];
        for (value, what, slot) in rates {
            if let Some(value) = value {
                *slot = probability_in(self.d, value.value, what, &value.referenced).unwrap_or(0.0);
            }
        }
        let durations = [
            (&disk.latency_min, "latency_min", &mut config.latency_min),
            (&disk.latency_max, "latency_max", &mut config.latency_max),
            (&disk.slow_latency, "slow_latency", &mut config.slow_latency),
        ];
        for (text, what, slot) in durations {
            if let Some(text) = text {
                *slot = self.duration(text, what).unwrap_or(*slot);
            }
        }
        if config.latency_min > config.latency_max {
            let at = disk.latency_min.as_ref().map_or(file.referenced, |l| l.referenced);
            let message = format!(
                "disk latency_min ({}) is greater than latency_max ({})",
                config.latency_min, config.latency_max
            );
            self.error(ErrorKind::Value, &at, message, "expected latency_min <= latency_max");
        }
        config
    }
}
