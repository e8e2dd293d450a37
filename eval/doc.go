// Package eval scores captioners the way the paper's Unified-Bench does (protocol 1): each model
// captions held-out images, a decoder regenerates an image from each caption, and the similarity
// to the source is measured under every embedder; "Overall" is the unweighted mean over embedders
// of their mean similarities. Where the images have labels, a judge adds the understanding
// metrics of the captions. It also compares folders of image files directly (CompareFiles).
//
// It knows the decoder and embedders through the reward's contract (reward.Reward), the judge
// (Judge) and the captioner (Captioner) through the interfaces of seams.go.
package eval
