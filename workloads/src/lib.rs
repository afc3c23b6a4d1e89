//! Reference systems under test.
