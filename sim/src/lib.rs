//! Orrery's engine. See ARCHITECTURE.md at the repository root for the map.
pub mod check;
pub mod disk;
pub mod rng;
pub mod time;
