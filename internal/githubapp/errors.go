package githubapp

import (
	"context"
	"errors"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/sandstep/sandstep/internal/sandstep"
)

// secondaryWait is GitHub's advice for a secondary rate limit that names
// no wait ("wait for at least one minute"), and the wait of any limit
// that names none.
const secondaryWait = time.Minute

// maxRetryAfter bounds a wait read from headers; GitHub's limits reset
// within the hour.
const maxRetryAfter = time.Hour

// classify turns the error of a call that tried op into a *sandstep.Error.
// credential is what the call sent, scrubbed from anything GitHub echoed;
// asApp says it was the App's JWT, so a 401 means the App is misconfigured.
func classify(err error, op, credential string, asApp bool) error {
	switch {
	case errors.Is(err, context.DeadlineExceeded):
		return sandstep.Wrap(err, sandstep.ETIMEOUT, "%s: ran out of time", op)
	case errors.Is(err, context.Canceled):
		return sandstep.Wrap(err, sandstep.ETRANSIENT, "%s: cancelled", op)
	}
	var er *apiError
	if errors.As(err, &er) {
		return classifyResponse(err, er, op, credential, asApp)
	}
	var ue *url.Error
	var ne net.Error
	if errors.As(err, &ue) || errors.As(err, &ne) {
		return sandstep.Wrap(err, sandstep.ETRANSIENT, "%s: GitHub could not be reached; try again", op)
	}
	return sandstep.Wrap(err, sandstep.EINTERNAL, "%s failed", op)
}

func classifyResponse(err error, er *apiError, op, credential string, asApp bool) error {
	er.Message = scrub(er.Message, credential)
	for i := range er.Errors {
		er.Errors[i].Message = scrub(er.Errors[i].Message, credential)
	}
	msg := errorText(er)
	status := er.Status
	limit := rateLimit(er)
	switch {
	case status == http.StatusNotFound:
		return sandstep.Wrap(err, sandstep.ENOTFOUND, "%s: not found at GitHub", op)
	case status == http.StatusUnauthorized && asApp:
		return sandstep.Wrap(err, sandstep.EINTERNAL, "%s: GitHub refused the App's JWT; check the App id and its private key", op)
	case status == http.StatusUnauthorized:
		return sandstep.Wrap(err, sandstep.EUNAUTHENTICATED, "%s: GitHub refused the installation token", op)
	case limit == limitSecondary:
		return retryLater(err, er.Header, secondaryWait, "%s: GitHub's secondary rate limit; try again later", op)
	case limit == limitUsedUp:
		return retryLater(err, er.Header, 0, "%s: GitHub's rate limit is used up; try again later", op)
	case limit == limitUnnamed:
		// A limit whose headers a proxy dropped, or a server (GitHub
		// Enterprise Server) that sends none: a refusal for now, not for
		// good.
		return retryLater(err, er.Header, secondaryWait, "%s: GitHub's rate limit; try again later", op)
	case status == http.StatusForbidden:
		return sandstep.Wrap(err, sandstep.EUNAUTHENTICATED, "%s: GitHub forbids it: %s", op, msg)
	case status == http.StatusUnprocessableEntity && strings.Contains(strings.ToLower(msg), "submitted too quickly"):
		// GitHub's limit on content created (comments, pull requests)
		// answers a 422, not a 403: a secondary limit all the same.
		return retryLater(err, er.Header, secondaryWait, "%s: GitHub's limit on content created; try again later", op)
	case status == http.StatusUnprocessableEntity, status == http.StatusBadRequest:
		e := sandstep.Wrap(err, sandstep.EINVALID, "%s: GitHub refused it: %s", op, msg)
		for _, fe := range er.Errors {
			if fe.Field != "" {
				e.Field = fe.Field
				break
			}
		}
		return e
	case status == http.StatusConflict:
		return sandstep.Wrap(err, sandstep.ECONFLICT, "%s: %s", op, msg)
	case status == http.StatusTooManyRequests:
		return retryLater(err, er.Header, secondaryWait, "%s: GitHub is busy (%d); try again", op, status)
	case status >= 500:
		return retryLater(err, er.Header, 0, "%s: GitHub is unavailable (%d); try again", op, status)
	}
	return sandstep.Wrap(err, sandstep.EINTERNAL, "%s: GitHub answered %d", op, status)
}

// The rate limits a 403 or a 429 may be.
const (
	limitNone = iota
	limitSecondary
	limitUsedUp
	limitUnnamed
)

// rateLimit says which of GitHub's rate limits refused a call, if any.
func rateLimit(er *apiError) int {
	if er.Status != http.StatusForbidden && er.Status != http.StatusTooManyRequests {
		return limitNone
	}
	lower := strings.ToLower(errorText(er))
	switch {
	case strings.Contains(er.DocumentationURL, "secondary-rate-limits") || strings.Contains(er.DocumentationURL, "abuse") ||
		strings.Contains(lower, "secondary rate limit") || strings.Contains(lower, "abuse detection"):
		return limitSecondary
	case er.Header.Get("X-RateLimit-Remaining") == "0":
		return limitUsedUp
	case strings.Contains(lower, "rate limit"):
		return limitUnnamed
	}
	return limitNone
}

// refusedToken says GitHub refused the call for its installation token:
// 401, or a 403 that is no rate limit.
func refusedToken(er *apiError) bool {
	return er.Status == http.StatusUnauthorized || er.Status == http.StatusForbidden && rateLimit(er) == limitNone
}

// retryLater is err as a refusal for now, asking for the wait GitHub's
// headers name, or dflt when they name none.
func retryLater(err error, h http.Header, dflt time.Duration, format string, args ...any) error {
	e := sandstep.Wrap(err, sandstep.ETRANSIENT, format, args...)
	if e.RetryAfter = headerWait(h, time.Now()); e.RetryAfter == 0 {
		e.RetryAfter = dflt
	}
	return e
}

// errorText is GitHub's message and those of its errors array, which say
// what was wrong ("A pull request already exists for o:b.").
func errorText(er *apiError) string {
	parts := []string{er.Message}
	for _, fe := range er.Errors {
		if fe.Message != "" {
			parts = append(parts, fe.Message)
		}
	}
	return sandstep.Clip(strings.Join(parts, "; "), 500)
}

// scrub removes the credential from text GitHub sent back: a proxy or a
// stand-in may echo a request, and errors end up in logs.
func scrub(s, credential string) string {
	if credential == "" {
		return s
	}
	return strings.ReplaceAll(s, credential, "[REDACTED]")
}

// headerWait reads Retry-After (seconds or an HTTP date), else, when the
// limit is used up, X-RateLimit-Reset (Unix seconds).
func headerWait(h http.Header, now time.Time) time.Duration {
	if v := strings.TrimSpace(h.Get("Retry-After")); v != "" {
		if s, err := strconv.Atoi(v); err == nil {
			return clampWait(time.Duration(s) * time.Second)
		}
		if t, err := http.ParseTime(v); err == nil {
			return clampWait(t.Sub(now))
		}
	}
	if h.Get("X-RateLimit-Remaining") == "0" {
		if s, err := strconv.ParseInt(h.Get("X-RateLimit-Reset"), 10, 64); err == nil {
			return clampWait(time.Unix(s, 0).Sub(now))
		}
	}
	return 0
}

func clampWait(d time.Duration) time.Duration {
	return min(max(d, 0), maxRetryAfter)
}

// isStatus reports whether err is GitHub's answer with status.
func isStatus(err error, status int) bool {
	var er *apiError
	return errors.As(err, &er) && er.Status == status
}
