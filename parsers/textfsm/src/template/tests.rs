//! Template syntax tests.
