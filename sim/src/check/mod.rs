//! Checkers: histories, linearizability, invariants, liveness and sometimes-coverage.
