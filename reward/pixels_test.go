package reward_test

import (
	"encoding/base64"
	"net/http"
	"os"
	"strings"
	"testing"

	"github.com/unigrpo/unigrpo/reward"
)

// A source image whose PNG header claims 10000 x 10000 pixels (68 bytes; images/testdata/README)
// is answered 400 naming the pixel budget, and the service goes on answering. Oracle: the
// header of the file sent.
func TestServiceRefusesPixelBomb(t *testing.T) {
	bomb, err := os.ReadFile("../images/testdata/bomb.png")
	if err != nil {
		t.Fatal(err)
	}
	url := serve(t, worldReward(t), reward.ServerOptions{})
	body := `{"protocol":1,"group":1,"images":[{"png":"` + base64.StdEncoding.EncodeToString(bomb) + `"}],"captions":["a"],"keys":[{}]}`
	status, res := post(t, url, body)
	if status != http.StatusBadRequest || !strings.Contains(res.Error, "megapixels") {
		t.Fatalf("bomb: %d %q; want 400 naming the pixel budget", status, res.Error)
	}
	src, caps, keys := batch(1, 2, true)
	cl, err := reward.Dial(url, reward.ClientOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := cl.Rewards(src, 2, caps, keys); err != nil {
		t.Fatalf("a valid request after the bomb: %v", err)
	}
}
