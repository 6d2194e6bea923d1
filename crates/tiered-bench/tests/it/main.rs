//! The benchmark binary's tests: it runs and prints every figure (no figure is asserted).
#![cfg(test)]

mod smoke;
