//! dockertools
