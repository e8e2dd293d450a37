package reward_test

import (
	"encoding/base64"
	"net/http"
	"strings"
	"testing"

	"github.com/unigrpo/unigrpo/reward"
)

// An f32 image whose height x width wraps around int64 (to one pixel's worth of bytes) is
// answered 400, and the service goes on answering. Oracle: 12*h*w mod 2^64 = 12 for
// h = 2^31+1 and w = h's inverse mod 2^62, computed with Python's pow(h, -1, 2**62).
func TestServiceRefusesOverflowingF32Size(t *testing.T) {
	url := serve(t, worldReward(t), reward.ServerOptions{})
	pix := base64.StdEncoding.EncodeToString(make([]byte, 12))
	body := `{"protocol":1,"group":1,"images":[{"f32":"` + pix + `","c":3,"h":2147483649,"w":4611686016279904257}],"captions":["a"],"keys":[{}]}`
	status, res := post(t, url, body)
	if status != http.StatusBadRequest || !strings.Contains(res.Error, "image 0") {
		t.Fatalf("overflowing f32 size: %d %q; want 400 naming image 0", status, res.Error)
	}
	src, caps, keys := batch(1, 2, false)
	cl, err := reward.Dial(url, reward.ClientOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := cl.Rewards(src, 2, caps, keys); err != nil {
		t.Fatalf("a valid request after it: %v", err)
	}
}
