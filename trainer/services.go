package trainer

import (
	"fmt"

	"github.com/unigrpo/unigrpo/reward"
)

// The per-service metrics of a reward computed by a pool of services (reward.StatsReporter):
// reward_service<i>_images_per_s, each service's images regenerated per second of its busy time
// over all ranks (the images of all ranks over the longest busy time of one rank's calls), and
// reward_services_live, the fewest services left on a rank.

// tallyServices adds this rank's work of each service since the previous step.
func tallyServices(t *tally, st []reward.MemberStats) {
	live := 0
	for i, s := range st {
		t.sum(fmt.Sprintf("service%d:images", i), float64(s.Images))
		t.max(fmt.Sprintf("service%d:busy", i), s.Busy.Seconds())
		if s.Live {
			live++
		}
	}
	t.min("services_live", float64(live))
}

// serviceRecord adds the per-service metrics to rec from the reduced tally m (nothing without a
// pool).
func serviceRecord(rec Record, m map[string]float64, services reward.StatsReporter) {
	if services == nil {
		return
	}
	rec["reward_services_live"] = m["services_live"]
	for i := 0; ; i++ {
		images, ok := m[fmt.Sprintf("service%d:images", i)]
		if !ok {
			return
		}
		rate := 0.0
		if busy := m[fmt.Sprintf("service%d:busy", i)]; busy > 0 {
			rate = images / busy
		}
		rec[fmt.Sprintf("reward_service%d_images_per_s", i)] = rate
	}
}
