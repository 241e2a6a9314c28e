//! The code checked against itself and its packaging, without running it.

mod layering;
mod packaging;
