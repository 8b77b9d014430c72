//! rnix: glue between the evaluator, the store, the realiser, the package set and dockertools.
