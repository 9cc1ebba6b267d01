//! switchyard-wire
