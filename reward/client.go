package reward

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/unigrpo/unigrpo/images"
	"github.com/unigrpo/unigrpo/internal/stream"
)

// A Client is a reward whose decoder may read the captions' hidden states.
var _ HiddenReward = (*Client)(nil)

// ClientOptions bound how long the trainer waits for the service.
type ClientOptions struct {
	// Deadline bounds one Rewards call, retries included (default 2 minutes): a service that is
	// down or stuck stops the run with an error, never a hang.
	Deadline time.Duration
	// Tries is how many times a request is sent when the connection fails (default 4); the waits
	// between tries double from Backoff (default 250 ms). Answers with an error status are not
	// retried, except 503 (busy).
	Tries   int
	Backoff time.Duration
	// SendHidden sends each caption's last hidden state with the request (RewardsWithHidden).
	SendHidden bool
}

func (o ClientOptions) withDefaults() ClientOptions {
	if o.Deadline <= 0 {
		o.Deadline = 2 * time.Minute
	}
	if o.Tries < 1 {
		o.Tries = 4
	}
	if o.Backoff <= 0 {
		o.Backoff = 250 * time.Millisecond
	}
	return o
}

// Client calls a reward service. It is safe for concurrent use.
type Client struct {
	base string
	url  string // the address as given (base is rewritten for a Unix socket)
	opt  ClientOptions
	http *http.Client
	info Info
}

// Dial checks that a service answers at base (http://host:port, or unix:///path/to.sock) in this
// protocol and returns a client for it.
func Dial(base string, opt ClientOptions) (*Client, error) {
	opt = opt.withDefaults()
	c := &Client{base: strings.TrimRight(base, "/"), url: base, opt: opt, http: &http.Client{}}
	u, err := url.Parse(base)
	switch {
	case err != nil:
		return nil, fmt.Errorf("--reward-url %s: %v", base, err)
	case u.Scheme == "unix":
		sock := u.Path
		c.base = "http://unix"
		c.http.Transport = &http.Transport{DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
			var d net.Dialer
			return d.DialContext(ctx, "unix", sock)
		}}
	case u.Scheme != "http" || u.Host == "":
		return nil, fmt.Errorf("--reward-url %s: want http://HOST:PORT or unix:///PATH", base)
	}
	ctx, cancel := context.WithTimeout(context.Background(), opt.Deadline)
	defer cancel()
	body, err := c.call(ctx, http.MethodGet, "/v1/info", nil)
	if err != nil {
		return nil, err
	}
	if err := json.Unmarshal(body, &c.info); err != nil {
		return nil, fmt.Errorf("reward service %s: /v1/info is not JSON: %v", base, err)
	}
	if c.info.Protocol != Protocol {
		return nil, fmt.Errorf("reward service %s speaks protocol %d; this trainer speaks protocol %d", base, c.info.Protocol, Protocol)
	}
	if len(c.info.Embedders) == 0 {
		return nil, fmt.Errorf("reward service %s names no embedder in /v1/info", base)
	}
	return c, nil
}

// URL is the service's address as given to Dial.
func (c *Client) URL() string { return c.url }

// Embedders names the service's embedders.
func (c *Client) Embedders() []string { return append([]string(nil), c.info.Embedders...) }

// Info is what the service said of itself.
func (c *Client) Info() Info { return c.info }

// Rewards asks the service for the rewards of N = B*G captions (see Reward).
func (c *Client) Rewards(src []images.Planar, G int, captions []string, keys []stream.Key) ([]float64, [][]float64, error) {
	return c.RewardsWithHidden(src, G, captions, nil, keys)
}

// RewardsWithHidden is Rewards with each caption's last hidden state, sent when the client was
// made with SendHidden (the paper's UMM-1 conditions its decoder on a projection of it). A batch
// larger than the service takes is sent as several requests of whole groups.
func (c *Client) RewardsWithHidden(src []images.Planar, G int, captions []string, hidden [][]float32, keys []stream.Key) ([]float64, [][]float64, error) {
	if G < 1 || len(captions) != len(src)*G || len(keys) != len(captions) || (hidden != nil && len(hidden) != len(captions)) {
		return nil, nil, fmt.Errorf("reward service: %d images x G=%d but %d captions, %d keys and %d hidden states", len(src), G, len(captions), len(keys), len(hidden))
	}
	if !c.opt.SendHidden {
		hidden = nil
	}
	wire := make([]Image, len(src))
	for b, im := range src {
		var err error
		if wire[b], err = EncodeImage(im); err != nil {
			return nil, nil, err
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), c.opt.Deadline)
	defer cancel()
	var rewards []float64
	var parts [][]float64
	for lo := 0; lo < len(src); {
		req, err := c.request(wire, lo, G, captions, hidden, keys)
		if err != nil {
			return nil, nil, err
		}
		hi := lo + len(req.Images)
		js, err := json.Marshal(req)
		if err != nil {
			return nil, nil, err
		}
		body, err := c.call(ctx, http.MethodPost, "/v1/rewards", js)
		if err != nil {
			return nil, nil, err
		}
		var res Response
		if err := json.Unmarshal(body, &res); err != nil {
			return nil, nil, c.badAnswer(fmt.Errorf("reward service %s answered something that is not a rewards response: %v", c.base, err))
		}
		if err := res.check(len(req.Captions)); err != nil {
			return nil, nil, c.badAnswer(fmt.Errorf("reward service %s: %w", c.base, err))
		}
		if strings.Join(res.Embedders, "\x00") != strings.Join(c.info.Embedders, "\x00") {
			return nil, nil, c.badAnswer(fmt.Errorf("reward service %s answered for embedders %v but announced %v", c.base, res.Embedders, c.info.Embedders))
		}
		rewards = append(rewards, res.Rewards...)
		parts = append(parts, res.Parts...)
		lo = hi
	}
	return rewards, parts, nil
}

// request is the next request of a batch from image lo on: as many whole groups as the service's
// batch and body limits take (a body estimated at most 90% of the limit).
func (c *Client) request(wire []Image, lo, G int, captions []string, hidden [][]float32, keys []stream.Key) (Request, error) {
	req := Request{Protocol: Protocol, Group: G}
	size := 256
	for b := lo; b < len(wire); b++ {
		add := len(wire[b].PNG) + len(wire[b].F32) + len(wire[b].Path) + 64
		for r := b * G; r < (b+1)*G; r++ {
			add += len(captions[r]) + 160
			if hidden != nil {
				add += 16 * len(hidden[r])
			}
		}
		tooMany := c.info.MaxBatch > 0 && len(req.Captions)+G > c.info.MaxBatch
		tooBig := c.info.MaxBodyBytes > 0 && float64(size+add) > 0.9*float64(c.info.MaxBodyBytes)
		if tooMany || tooBig {
			if len(req.Images) == 0 {
				return req, fmt.Errorf("reward service %s takes at most %d captions and %d bytes per request, less than one image with its %d captions (about %d bytes)",
					c.base, c.info.MaxBatch, c.info.MaxBodyBytes, G, add)
			}
			break
		}
		size += add
		req.Images = append(req.Images, wire[b])
		req.Captions = append(req.Captions, captions[b*G:(b+1)*G]...)
		for _, k := range keys[b*G : (b+1)*G] {
			req.Keys = append(req.Keys, Key{Key: k, Seed64: k.Seed64()})
		}
		if hidden != nil {
			req.Hidden = append(req.Hidden, hidden[b*G:(b+1)*G]...)
		}
	}
	return req, nil
}

// call sends one request, retrying failed connections with backoff until the tries or the
// context's deadline run out, and returns the body of a 2xx answer.
func (c *Client) call(ctx context.Context, method, path string, body []byte) ([]byte, error) {
	wait := c.opt.Backoff
	var last error
	for try := 1; ; try++ {
		out, retry, err := c.once(ctx, method, path, body)
		if err == nil {
			return out, nil
		}
		last = err
		if !retry || try >= c.opt.Tries {
			break
		}
		select {
		case <-ctx.Done():
			return nil, &TransportError{URL: c.url, Timeout: true, Err: fmt.Errorf("%w (the deadline of %v ran out after %d tries)", last, c.opt.Deadline, try)}
		case <-time.After(wait):
		}
		wait *= 2
	}
	return nil, last
}

// once sends a request once; retry says whether trying again may help.
func (c *Client) once(ctx context.Context, method, path string, body []byte) (out []byte, retry bool, err error) {
	req, err := http.NewRequestWithContext(ctx, method, c.base+path, bytes.NewReader(body))
	if err != nil {
		return nil, false, err
	}
	req.Header.Set("Content-Type", "application/json")
	res, err := c.http.Do(req)
	if err != nil {
		if errors.Is(ctx.Err(), context.DeadlineExceeded) {
			return nil, false, &TransportError{URL: c.url, Timeout: true, Err: fmt.Errorf("reward service %s did not answer within the deadline of %v (--reward-timeout): %v", c.base, c.opt.Deadline, err)}
		}
		return nil, true, &TransportError{URL: c.url, Err: fmt.Errorf("reward service %s is not reachable: %v (is `trainer serve-reward` or your server running there?)", c.base, err)}
	}
	defer res.Body.Close()
	out, err = io.ReadAll(io.LimitReader(res.Body, 1<<30))
	if err != nil {
		return nil, true, &TransportError{URL: c.url, Timeout: errors.Is(ctx.Err(), context.DeadlineExceeded), Err: fmt.Errorf("reward service %s: reading the answer: %v", c.base, err)}
	}
	if res.StatusCode/100 != 2 {
		var e Response
		msg := strings.TrimSpace(string(out))
		if json.Unmarshal(out, &e) == nil && e.Error != "" {
			msg = e.Error
		}
		if len(msg) > 300 {
			msg = msg[:300] + "..."
		}
		return nil, res.StatusCode == http.StatusServiceUnavailable, &AnswerError{URL: c.url, Status: res.StatusCode, Err: fmt.Errorf("reward service %s%s: %s: %s", c.base, path, res.Status, msg)}
	}
	return out, false, nil
}

// badAnswer marks err as a valid HTTP answer whose body is not a valid response.
func (c *Client) badAnswer(err error) error {
	return &AnswerError{URL: c.url, Status: http.StatusOK, Err: err}
}

// Remote says that the client's reward is computed by its service.
func (c *Client) Remote() {}
