package world

import "testing"

// BenchmarkSampleRender measures drawing and rendering one default scene.
func BenchmarkSampleRender(b *testing.B) {
	cfg := DefaultConfig()
	rng := rngFor(1, 2)
	for b.Loop() {
		cfg.Render(cfg.Sample(rng))
	}
}

// BenchmarkDecode measures decoding an oracle caption to an image.
func BenchmarkDecode(b *testing.B) {
	cfg := DefaultConfig()
	d, err := NewDecoder(cfg)
	if err != nil {
		b.Fatal(err)
	}
	rng := rngFor(3, 4)
	ids := Oracle(Config{Size: 32, MinObjects: 4, MaxObjects: 4, Jitter: 1}.Sample(rng))
	for b.Loop() {
		d.Decode(ids, rng)
	}
}

// BenchmarkUnderstand measures scoring a partial caption.
func BenchmarkUnderstand(b *testing.B) {
	cfg := DefaultConfig()
	rng := rngFor(5, 6)
	s := cfg.Sample(rng)
	ids := Partial(s, DefaultPartialOptions(), rng)
	for b.Loop() {
		Understand(s, ids)
	}
}
