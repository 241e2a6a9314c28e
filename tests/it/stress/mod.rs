//! Faults and hostile clients against a running agent; `make stress` runs them longer.

mod faults;
mod hostile;
