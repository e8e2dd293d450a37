package shape

import "fmt"

// vqTensors lists the VQ-VAE's tensors under prefix, as janus.vqParams does: convolutions in the
// run's dtype, GroupNorm parameters and the codebook in float32.
func vqTensors(l *list, c janusVQ, prefix string) {
	conv := func(name string, out, in, k int) {
		l.add(prefix+name+".weight", PartVQ, false, out, in, k, k)
		l.add(prefix+name+".bias", PartVQ, false, out)
	}
	norm := func(name string, ch int) {
		l.add(prefix+name+".weight", PartVQ, true, ch)
		l.add(prefix+name+".bias", PartVQ, true, ch)
	}
	resnet := func(p string, in, out int) {
		norm(p+".norm1", in)
		conv(p+".conv1", out, in, 3)
		norm(p+".norm2", out)
		conv(p+".conv2", out, out, 3)
		if in != out {
			conv(p+".nin_shortcut", out, in, 1)
		}
	}
	attn := func(p string, ch int) {
		norm(p+".norm", ch)
		for _, n := range []string{"q", "k", "v", "proj_out"} {
			conv(p+"."+n, ch, ch, 1)
		}
	}
	mid := func(p string, ch int) {
		resnet(p+".block_1", ch, ch)
		attn(p+".attn_1", ch)
		resnet(p+".block_2", ch, ch)
	}
	base, mult, n := c.Base, c.Mult, len(c.Mult)
	conv("encoder.conv_in", base, c.InChannels, 3)
	ch := base
	for lv := range n {
		if lv > 0 {
			ch = base * mult[lv-1]
		}
		for b := range c.ResBlocks {
			resnet(fmt.Sprintf("encoder.down.%d.block.%d", lv, b), ch, base*mult[lv])
			ch = base * mult[lv]
			if lv == n-1 {
				attn(fmt.Sprintf("encoder.down.%d.attn.%d", lv, b), ch)
			}
		}
		if lv != n-1 {
			conv(fmt.Sprintf("encoder.down.%d.downsample.conv", lv), ch, ch, 3)
		}
	}
	mid("encoder.mid", ch)
	norm("encoder.norm_out", ch)
	conv("encoder.conv_out", c.Latent, ch, 3)
	l.add(prefix+"quantize.embedding.weight", PartVQ, true, c.NumEmbeddings, c.EmbedDim)
	conv("quant_conv", c.EmbedDim, c.Latent, 1)
	conv("post_quant_conv", c.Latent, c.EmbedDim, 1)
	ch = base * mult[n-1]
	conv("decoder.conv_in", ch, c.Latent, 3)
	mid("decoder.mid", ch)
	for i := range n {
		lv := n - 1 - i
		for b := range c.ResBlocks + 1 {
			resnet(fmt.Sprintf("decoder.up.%d.block.%d", i, b), ch, base*mult[lv])
			ch = base * mult[lv]
			if lv == n-1 {
				attn(fmt.Sprintf("decoder.up.%d.attn.%d", i, b), ch)
			}
		}
		if lv != 0 {
			conv(fmt.Sprintf("decoder.up.%d.upsample.conv", i), ch, ch, 3)
		}
	}
	norm("decoder.norm_out", ch)
	conv("decoder.conv_out", c.OutChannels, ch, 3)
}
