// Package plots draws the training and device figures of a run with
// gonum/plot: the reward and caption-length dynamics (the paper's Fig. 8),
// a sheet of optimisation diagnostics, GPU or CPU usage over time, and
// simple bar and line charts for benchmark reports.
//
// Every figure is a PNG written atomically (a temporary file in the target
// directory, then a rename), so a reader never sees a half-written image.
// Missing or empty series never make a figure fail: their panels carry a
// "no data" label instead. Non-finite values (NaN, ±Inf) are skipped.
package plots
