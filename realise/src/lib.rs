//! realise
