package reward_test

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/unigrpo/unigrpo/reward"
)

// A service answering rewards or parts outside [-RewardBound, RewardBound] (a finite 1e160
// included) stops the call with an error naming the service and the bound. Oracle: a cosine
// similarity lies in [-1, 1].
func TestClientRefusesImplausibleRewards(t *testing.T) {
	src, caps, keys := batch(1, 2, false)
	for _, body := range []string{
		`{"protocol":1,"embedders":["e"],"rewards":[0.5,1e160],"parts":[[0.5],[1e160]]}`,
		`{"protocol":1,"embedders":["e"],"rewards":[0.5,-3],"parts":[[0.5],[-3]]}`,
		`{"protocol":1,"embedders":["e"],"rewards":[0.5,0.5],"parts":[[0.5],[7]]}`,
	} {
		mux := http.NewServeMux()
		mux.HandleFunc("/v1/info", func(w http.ResponseWriter, _ *http.Request) {
			fmt.Fprint(w, `{"protocol":1,"embedders":["e"],"max_batch":100}`)
		})
		mux.HandleFunc("/v1/rewards", func(w http.ResponseWriter, _ *http.Request) { fmt.Fprint(w, body) })
		srv := httptest.NewServer(mux)
		cl, err := reward.Dial(srv.URL, reward.ClientOptions{})
		if err != nil {
			t.Fatal(err)
		}
		_, _, err = cl.Rewards(src, 2, caps, keys)
		srv.Close()
		if err == nil || !strings.Contains(err.Error(), srv.URL) || !strings.Contains(err.Error(), "outside") {
			t.Errorf("answer %s: %v; want an error naming the service and the bound", body, err)
		}
	}
}
