// Package eval scores captioners the way the paper's Unified-Bench does (protocol 1): each model
// captions held-out images, the decoder regenerates an image from each caption, and the
// similarity to the source is measured under every embedder; "Overall" is the mean over
// embedders. It also reports the understanding metrics of the captions (object precision and
// recall, attribute accuracy, small-object recall, position accuracy).
package eval
