package main

import (
	"bufio"
	"encoding/json"
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/unigrpo/unigrpo/reward"
)

// rewardURLs are the values of --reward-url, as given: service addresses (http://HOST:PORT,
// unix:///PATH) or files that list them. config.json keeps them as given, so that a resumed run
// reads a file again (its services may have moved). A config.json of a run made before the pool
// holds one address as a string, which reads as a list of one.
type rewardURLs []string

// UnmarshalJSON reads a list of values or, from an older config.json, one value.
func (u *rewardURLs) UnmarshalJSON(b []byte) error {
	var one string
	if err := json.Unmarshal(b, &one); err == nil {
		*u = nil
		if one != "" {
			*u = rewardURLs{one}
		}
		return nil
	}
	var list []string
	if err := json.Unmarshal(b, &list); err != nil {
		return fmt.Errorf("reward_url: want an address or a list of addresses: %v", err)
	}
	*u = list
	return nil
}

// isAddress reports whether s is a service address rather than a file listing addresses.
func isAddress(s string) bool {
	return strings.HasPrefix(s, "http://") || strings.HasPrefix(s, "https://") || strings.HasPrefix(s, "unix://")
}

// expand returns the service addresses: each value that is an address, and the addresses listed
// in each value that is a file (one a line; blank lines and lines starting with # are skipped).
func (u rewardURLs) expand() ([]string, error) {
	var out []string
	for _, v := range u {
		if isAddress(v) {
			out = append(out, v)
			continue
		}
		listed, err := readURLFile(v)
		if err != nil {
			return nil, err
		}
		out = append(out, listed...)
	}
	return out, nil
}

// readURLFile reads a file listing service addresses.
func readURLFile(path string) ([]string, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, usagef("--reward-url %s: neither an address (http://HOST:PORT, unix:///PATH) nor a readable file listing addresses: %v", path, err)
	}
	defer f.Close()
	var out []string
	sc := bufio.NewScanner(f)
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		if !isAddress(line) {
			return nil, usagef("--reward-url %s line %d: %q is not an address (want http://HOST:PORT or unix:///PATH)", path, n, line)
		}
		out = append(out, line)
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("--reward-url %s: %w", path, err)
	}
	if len(out) == 0 {
		return nil, usagef("--reward-url %s: the file lists no address", path)
	}
	return out, nil
}

// dialServices dials the pool of reward services that u names; its warnings (a member dropped)
// go to standard error with the rank.
func dialServices(u rewardURLs, timeout time.Duration, hidden bool, rank int) (*reward.Pool, error) {
	urls, err := u.expand()
	if err != nil {
		return nil, err
	}
	logf := func(format string, args ...any) {
		fmt.Fprintf(os.Stderr, "trainer: rank %d: "+format+"\n", append([]any{rank}, args...)...)
	}
	return reward.DialPool(urls, reward.ClientOptions{Deadline: timeout, SendHidden: hidden}, logf)
}

// poolKeys are the per-service metrics the log shows for a pool of n services.
func poolKeys(n int) []string {
	keys := []string{"reward_services_live"}
	for i := 0; i < n; i++ {
		keys = append(keys, fmt.Sprintf("reward_service%d_images_per_s", i))
	}
	return keys
}
