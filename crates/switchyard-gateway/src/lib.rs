//! switchyard-gateway
