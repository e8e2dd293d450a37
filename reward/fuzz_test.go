package reward_test

import (
	"bytes"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/unigrpo/unigrpo/images"
	"github.com/unigrpo/unigrpo/internal/stream"
	"github.com/unigrpo/unigrpo/reward"
)

// zeroScorer answers zeros at once, so that the fuzzer spends its time on the request's parsing.
type zeroScorer struct{}

func (zeroScorer) Embedders() []string { return []string{"e"} }

func (zeroScorer) Rewards(src []images.Planar, G int, caps []string, _ []stream.Key) ([]float64, [][]float64, error) {
	for _, im := range src {
		if !im.Valid() {
			panic("the service scored an image whose shape does not match its pixels")
		}
	}
	r, p := make([]float64, len(caps)), make([][]float64, len(caps))
	for i := range p {
		p[i] = []float64{0}
	}
	return r, p, nil
}

// FuzzRewardsRequest posts arbitrary bodies to the service's handler: every one is answered
// with 200, 400 or 413 and never panics, and the scorer only sees well-formed images. The seed
// corpus (testdata/fuzz/FuzzRewardsRequest: valid PNG and f32 requests, the pixel bomb, an
// overflowing f32 size, mismatched counts) runs with every `go test`. Oracle: the protocol's
// statuses (reward/protocol.go) and the absence of a panic.
func FuzzRewardsRequest(f *testing.F) {
	h := reward.NewServer(zeroScorer{}, reward.ServerOptions{MaxBatch: 64, MaxBodyBytes: 1 << 20, MaxPixels: 1 << 16}).Handler()
	f.Fuzz(func(t *testing.T, body []byte) {
		rec := httptest.NewRecorder()
		req := httptest.NewRequest(http.MethodPost, "/v1/rewards", bytes.NewReader(body))
		h.ServeHTTP(rec, req)
		switch rec.Code {
		case http.StatusOK, http.StatusBadRequest, http.StatusRequestEntityTooLarge:
		default:
			t.Fatalf("status %d for %q: %s", rec.Code, body, rec.Body.String())
		}
	})
}
