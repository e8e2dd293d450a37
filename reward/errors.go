package reward

import "errors"

// TransportError is a call to a reward service that got no answer: the service could not be
// reached, the connection broke, or the deadline (--reward-timeout) ran out. Another service may
// answer the same request, so a Pool drops the member and sends its work to the others.
type TransportError struct {
	URL     string // the service's address
	Timeout bool   // the deadline ran out (else the connection failed)
	Err     error
}

func (e *TransportError) Error() string { return e.Err.Error() }
func (e *TransportError) Unwrap() error { return e.Err }

// AnswerError is a service that answered, but with an error status or an answer that is not a
// valid response to the request. Another service given the same request would most likely
// answer the same, so a Pool stops the run with it instead of trying elsewhere.
type AnswerError struct {
	URL    string // the service's address
	Status int    // the HTTP status (200 when the body was wrong)
	Err    error
}

func (e *AnswerError) Error() string { return e.Err.Error() }
func (e *AnswerError) Unwrap() error { return e.Err }

// IsTransport reports whether err is (or wraps) a TransportError.
func IsTransport(err error) bool {
	var t *TransportError
	return errors.As(err, &t)
}
