package agentwrit

import (
	"context"
	"errors"
	"sync"
	"time"
)

const (
	// reauthBuffer: a session is renewed once fewer than this remain (§9).
	reauthBuffer = 60 * time.Second
	// maxLoginRetries bounds the retries after a 429 on login; the app
	// limiter allows 3 logins then one per 6 s per client_id (§6).
	maxLoginRetries = 3
	// defaultRetryAfter is used when a 429 carries no Retry-After.
	defaultRetryAfter = time.Second
)

// session holds one bearer token obtained by login, shared by every caller:
// at most one login is in flight at a time (single flight), a token is reused
// until fewer than reauthBuffer remain (expiry = local reply time +
// expires_in), and a 429 sets a cool-down that every caller honours.
type session struct {
	c     *Client
	what  string // "app login for <client_id>" / "admin login", for messages
	login func(ctx context.Context, r *TokenResponse) error

	mu        sync.Mutex
	token     string
	expires   time.Time
	flight    *flight
	coolUntil time.Time
	coolErr   *RateLimitError
	coolSet   chan struct{} // closed and replaced whenever a cool-down starts

	testHookWait func() // tests: called when a caller starts waiting for another's login
}

// flight is one login in progress; done is closed when token/err are set.
type flight struct {
	done  chan struct{}
	token string
	err   error
	// callerOnly: the login failed because of the leading caller's own
	// context (cancelled, or a deadline too short to wait out a 429), so
	// waiters should try again themselves rather than share the failure.
	callerOnly bool
}

func newSession(c *Client, what string, login func(context.Context, *TokenResponse) error) *session {
	return &session{c: c, what: what, login: login, coolSet: make(chan struct{})}
}

func (s *session) now() time.Time { return s.c.cfg.now() }

// get returns a token valid for at least reauthBuffer, logging in if needed.
func (s *session) get(ctx context.Context) (string, error) {
	for {
		s.mu.Lock()
		if s.token != "" && s.now().Before(s.expires.Add(-reauthBuffer)) {
			tok := s.token
			s.mu.Unlock()
			return tok, nil
		}
		if f := s.flight; f != nil {
			if s.coolErr != nil && s.now().Before(s.coolUntil) {
				if err := s.tooSoon(ctx, s.coolUntil, s.coolErr, false); err != nil {
					s.mu.Unlock()
					return "", err
				}
			}
			coolSet := s.coolSet
			hook := s.testHookWait
			s.mu.Unlock()
			if hook != nil {
				hook()
			}
			select {
			case <-f.done:
				if f.callerOnly {
					continue
				}
				return f.token, f.err
			case <-coolSet:
				continue // the leader hit a 429: can we wait that long?
			case <-ctx.Done():
				return "", s.ctxErr(ctx)
			}
		}
		f := &flight{done: make(chan struct{})}
		s.flight = f
		s.mu.Unlock()

		tok, callerOnly, err := s.loginWithRetry(ctx)

		s.mu.Lock()
		s.flight = nil
		f.token, f.err, f.callerOnly = tok, err, callerOnly
		s.mu.Unlock()
		close(f.done)
		return tok, err
	}
}

// loginWithRetry logs in, waiting out 429s (at most maxLoginRetries times)
// within ctx. It stores the new token on success.
func (s *session) loginWithRetry(ctx context.Context) (tok string, callerOnly bool, err error) {
	for attempt := 0; ; attempt++ {
		if err := s.waitCoolDown(ctx); err != nil {
			return "", true, err
		}
		var r TokenResponse
		err := s.login(ctx, &r)
		replyAt := s.now()
		if err == nil {
			if r.AccessToken == "" {
				return "", false, invalidResponse(200, "", s.what+" reply has no access_token")
			}
			s.mu.Lock()
			s.token = r.AccessToken
			s.expires = replyAt.Add(time.Duration(r.ExpiresIn) * time.Second)
			s.coolUntil, s.coolErr = time.Time{}, nil
			s.mu.Unlock()
			return r.AccessToken, false, nil
		}
		var rl *RateLimitError
		if !errors.As(err, &rl) {
			return "", ctx.Err() != nil, err
		}
		wait := rl.RetryAfter
		if wait <= 0 {
			wait = defaultRetryAfter
		}
		s.mu.Lock()
		s.coolUntil, s.coolErr = replyAt.Add(wait), rl
		close(s.coolSet)
		s.coolSet = make(chan struct{})
		s.mu.Unlock()
		if attempt >= maxLoginRetries {
			return "", false, err
		}
	}
}

// waitCoolDown sleeps until the 429 cool-down ends. If ctx is done first, or
// its deadline falls before the end, it returns the RateLimitError at once.
func (s *session) waitCoolDown(ctx context.Context) error {
	s.mu.Lock()
	until, rl := s.coolUntil, s.coolErr
	s.mu.Unlock()
	wait := until.Sub(s.now())
	if rl == nil || wait <= 0 {
		return nil
	}
	if err := s.tooSoon(ctx, until, rl, true); err != nil {
		return err
	}
	s.c.cfg.notifyf("broker rate-limited " + s.what + "; retrying in " + seconds(wait))
	select {
	case <-s.c.cfg.after(wait):
		return nil
	case <-ctx.Done():
		return rl
	}
}

// tooSoon returns rl when ctx cannot wait until until; notify says so
// (only the leading caller notifies, and never with s.mu held).
func (s *session) tooSoon(ctx context.Context, until time.Time, rl *RateLimitError, notify bool) error {
	if ctx.Err() != nil {
		return rl
	}
	// The deadline is wall time, until is on the client's clock: compare
	// what each leaves, so that an injected clock reads the same.
	if dl, ok := ctx.Deadline(); ok && time.Until(dl) < until.Sub(s.now()) {
		if notify {
			s.c.cfg.notifyf("broker rate-limited " + s.what + "; not waiting " +
				seconds(until.Sub(s.now())) + " because the caller's deadline is sooner")
		}
		return rl
	}
	return nil
}

// ctxErr is the error for a caller whose ctx ended while waiting for another
// caller's login: the pending rate limit if there is one, else a
// TransportError carrying ctx.Err().
func (s *session) ctxErr(ctx context.Context) error {
	s.mu.Lock()
	rl := s.coolErr
	s.mu.Unlock()
	if rl != nil {
		return rl
	}
	return &TransportError{Op: "wait for " + s.what, URL: s.c.display, Err: context.Cause(ctx)}
}

// invalidate forgets tok if it is still the current token (after a 401).
func (s *session) invalidate(tok string) {
	s.mu.Lock()
	if s.token == tok {
		s.token, s.expires = "", time.Time{}
	}
	s.mu.Unlock()
}

// do runs fn with a session token; on a 401 it drops the token, logs in
// again and retries fn once. Login failures are prefixed with s.what.
func (s *session) do(ctx context.Context, fn func(token string) error) error {
	tok, err := s.get(ctx)
	if err != nil {
		return loginError{s.what, err}
	}
	err = fn(tok)
	var ae *AuthenticationError
	if !errors.As(err, &ae) {
		return err
	}
	s.invalidate(tok)
	if tok, err = s.get(ctx); err != nil {
		return loginError{s.what, err}
	}
	return fn(tok)
}

// loginError prefixes a login failure with what was being logged in.
type loginError struct {
	what string
	err  error
}

func (e loginError) Error() string { return e.what + ": " + e.err.Error() }
func (e loginError) Unwrap() error { return e.err }
