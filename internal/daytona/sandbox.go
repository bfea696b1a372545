package daytona

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"time"
)

// GetSandbox returns the sandbox with the given id or name
// (GET /sandbox/{sandboxIdOrName}). Retried on transient errors.
func (c *Client) GetSandbox(ctx context.Context, idOrName string) (*Sandbox, error) {
	if err := checkID("sandboxIdOrName", idOrName); err != nil {
		return nil, err
	}
	cl := c.apiCall(http.MethodGet, "/sandbox/"+url.PathEscape(idOrName))
	cl.mode = retrySafe
	var sb Sandbox
	if _, err := c.doJSON(ctx, cl, nil, &sb); err != nil {
		return nil, err
	}
	c.remember(sb.ID, sb.ToolboxProxyURL)
	return &sb, nil
}

// ListSandboxes returns one page of GET /sandbox. Labels are matched by
// containment. The list is eventually consistent: use GetSandbox for
// authoritative state.
func (c *Client) ListSandboxes(ctx context.Context, opts ListSandboxesOptions) (*ListSandboxesResponse, error) {
	q := url.Values{}
	if len(opts.Labels) > 0 {
		b, err := json.Marshal(opts.Labels)
		if err != nil {
			return nil, &ValidationError{Field: "Labels", Reason: err.Error()}
		}
		q.Set("labels", string(b))
	}
	for _, s := range opts.States {
		if s == "" {
			return nil, &ValidationError{Field: "States", Reason: "contains an empty state"}
		}
		q.Add("states", string(s))
	}
	if opts.Name != "" {
		q.Set("name", opts.Name)
	}
	if opts.Limit < 0 || opts.Limit > 200 {
		return nil, &ValidationError{Field: "Limit", Reason: "must be between 1 and 200 (0 for the server default)"}
	}
	if opts.Limit > 0 {
		q.Set("limit", strconv.Itoa(opts.Limit))
	}
	if opts.Cursor != "" {
		q.Set("cursor", opts.Cursor)
	}
	if opts.IncludeErroredDeleted {
		q.Set("includeErroredDeleted", "true")
	}
	cl := c.apiCall(http.MethodGet, "/sandbox")
	cl.query = q
	cl.mode = retrySafe
	var page ListSandboxesResponse
	if _, err := c.doJSON(ctx, cl, nil, &page); err != nil {
		return nil, err
	}
	for _, it := range page.Items {
		c.remember(it.ID, it.ToolboxProxyURL)
	}
	return &page, nil
}

// maxListPages stops ListAllSandboxes on a server that never ends a walk.
const maxListPages = 10000

// ListAllSandboxes follows NextCursor from opts.Cursor to the last page and
// returns every item. It stops with an error if the server repeats a cursor;
// on any error it also returns the items read so far.
func (c *Client) ListAllSandboxes(ctx context.Context, opts ListSandboxesOptions) ([]SandboxListItem, error) {
	var all []SandboxListItem
	seen := map[string]bool{}
	for range maxListPages {
		page, err := c.ListSandboxes(ctx, opts)
		if err != nil {
			return all, err
		}
		all = append(all, page.Items...)
		if page.NextCursor == "" {
			return all, nil
		}
		if seen[page.NextCursor] || page.NextCursor == opts.Cursor {
			return all, errors.New("daytona: GET /sandbox: server repeated a page cursor")
		}
		seen[page.NextCursor] = true
		opts.Cursor = page.NextCursor
	}
	return all, fmt.Errorf("daytona: GET /sandbox: more than %d pages", maxListPages)
}

// DeleteSandbox deletes a sandbox (DELETE /sandbox/{id}). Deletion is
// asynchronous: the returned sandbox, if the server sent one, has desired
// state destroyed. A 404 means it is already gone (IsNotFound).
func (c *Client) DeleteSandbox(ctx context.Context, idOrName string) (*Sandbox, error) {
	return c.lifecycle(ctx, http.MethodDelete, idOrName, "")
}

// StartSandbox starts a stopped or archived sandbox or resumes a paused one
// (POST /sandbox/{id}/start); a no-op for a started one. It does not wait:
// use WaitUntilStarted.
func (c *Client) StartSandbox(ctx context.Context, idOrName string) (*Sandbox, error) {
	return c.lifecycle(ctx, http.MethodPost, idOrName, "/start")
}

// lifecycle runs a delete or start call. These are idempotent in effect
// and retried on transient errors, including 409 "state change in
// progress".
func (c *Client) lifecycle(ctx context.Context, method, idOrName, suffix string) (*Sandbox, error) {
	if err := checkID("sandboxIdOrName", idOrName); err != nil {
		return nil, err
	}
	cl := c.apiCall(method, "/sandbox/"+url.PathEscape(idOrName)+suffix)
	cl.mode = retrySafe
	cl.lifecycle = true
	cl.accept = "application/json"
	resp, err := c.send(ctx, cl)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	sb, err := decodeOptionalSandbox(ctx, cl, resp)
	if err != nil || sb == nil {
		return nil, err
	}
	c.remember(sb.ID, sb.ToolboxProxyURL)
	return sb, nil
}

// decodeOptionalSandbox decodes a Sandbox body, allowing an empty one.
func decodeOptionalSandbox(ctx context.Context, cl *call, resp *http.Response) (*Sandbox, error) {
	raw, err := readJSONBody(ctx, cl, resp)
	if err != nil {
		return nil, err
	}
	if len(raw) == 0 {
		return nil, nil
	}
	var sb Sandbox
	if err := json.Unmarshal(raw, &sb); err != nil {
		return nil, fmt.Errorf("daytona: %s %s: decoding %d response: %w", cl.method, cl.path, resp.StatusCode, err)
	}
	return &sb, nil
}

// SetTTL re-anchors the sandbox's hard lifetime (POST
// /sandbox/{id}/ttl/{minutes}): it is destroyed minutes from now, whatever
// its state. A long job sets it to its deadline plus the time to clean up.
func (c *Client) SetTTL(ctx context.Context, idOrName string, minutes int) error {
	if minutes < 1 {
		return &ValidationError{Field: "minutes", Reason: "must be at least 1"}
	}
	_, err := c.lifecycle(ctx, http.MethodPost, idOrName, "/ttl/"+strconv.Itoa(minutes))
	return err
}

// RefreshActivity resets the sandbox's inactivity clock
// (POST /sandbox/{id}/last-activity), keeping auto-stop away while a job
// runs silently inside.
func (c *Client) RefreshActivity(ctx context.Context, sandboxID string) error {
	if err := checkID("sandboxID", sandboxID); err != nil {
		return err
	}
	cl := c.apiCall(http.MethodPost, "/sandbox/"+url.PathEscape(sandboxID)+"/last-activity")
	cl.mode = retrySafe
	_, err := c.doJSON(ctx, cl, nil, nil)
	return err
}

// CreateSandbox creates a sandbox (POST /sandbox; 200 with the Sandbox).
// It does not wait for "started": the create answer's state is not to be
// trusted; use WaitUntilStarted or CreateSandboxAndWait.
//
// The POST is never blindly repeated. When an attempt fails in a way that
// leaves it unknown whether the sandbox was made — a timeout, a network
// error after the request may have been sent, a 5xx, or a 400 "Sandbox
// failed to start" — and p.Name is set, the sandbox is looked up by name:
// if it exists it is returned, otherwise the create is tried again (within
// the retry policy and the context deadline). A 409 duplicate name after
// such an attempt means that attempt succeeded, and the sandbox is fetched
// by name. A 409 when every earlier attempt is known to have made nothing
// (never sent, or refused) is returned: the name is another sandbox's.
// Without a Name only a failure that provably created nothing (no
// connection) is retried.
//
// A 429 is not waited out here: it is returned at once, a
// *RateLimitError with Daytona's wait. The create budget is the
// organisation's, so a caller that shares it among several clients must
// hear of the refusal before any of them asks again (and a retry after
// the wait would land in a window nobody counted it in). A 429 made
// nothing: the name stays free for the caller's next try. Only after an
// earlier attempt whose outcome was unknown is the name looked up first,
// and the sandbox that attempt made returned.
//
// On error, a non-nil *Sandbox means the sandbox exists (a 400 "failed to
// start", or a context that ended after the sandbox was made) and the
// caller owns it and must delete it.
func (c *Client) CreateSandbox(ctx context.Context, p CreateSandboxParams) (*Sandbox, error) {
	req, err := p.Request(c.cfg.Target)
	if err != nil {
		return nil, err
	}
	body, err := json.Marshal(req)
	if err != nil {
		return nil, fmt.Errorf("daytona: POST /sandbox: encoding request: %w", err)
	}
	unknown := false // an earlier attempt may have made it
	for attempt := 1; ; attempt++ {
		cl := c.apiCall(http.MethodPost, "/sandbox")
		cl.body = body
		cl.contentType = "application/json"
		cl.accept = "application/json"
		cl.mode = retryNever // this loop does the retrying
		var sb Sandbox
		_, err := c.doJSON(ctx, cl, nil, &sb)
		var limited *RateLimitError
		if !errors.As(err, &limited) {
			p.tellBudget(cl)
		}
		if err == nil {
			c.remember(sb.ID, sb.ToolboxProxyURL)
			return &sb, nil
		}

		var ae *APIError
		isAPI := errors.As(err, &ae)
		retry := false
		switch {
		case isAPI && unknown && req.Name != "" && isDuplicateName(ae):
			// An earlier attempt with an unknown outcome made it. After
			// attempts that provably made nothing (not sent) the name is
			// another sandbox's, and the 409 is returned below.
			found, gerr := c.lookupCreated(ctx, req.Name)
			if gerr != nil {
				return nil, fmt.Errorf("%w; looking it up by name after a duplicate-name answer: %w", err, gerr)
			}
			return found, nil
		case isAPI && ae.StatusCode == http.StatusTooManyRequests:
			// This attempt made nothing; the wait is the caller's.
			if unknown && req.Name != "" {
				if found, gerr := c.lookupCreated(ctx, req.Name); gerr == nil {
					return found, nil
				}
			}
			return nil, withAttempts(err, attempt)
		case !isAPI && isNotSentErr(err):
			retry = true // nothing was created
		case createOutcomeUnknown(err) && req.Name != "":
			unknown = true
			found, gerr := c.lookupCreated(ctx, req.Name)
			switch {
			case gerr == nil && isAPI && isFailedToStart(ae):
				c.remember(found.ID, found.ToolboxProxyURL)
				return found, err
			case gerr == nil && ctx.Err() != nil:
				return found, err
			case gerr == nil:
				return found, nil
			case IsNotFound(gerr):
				retry = ctx.Err() == nil
			default:
				return nil, fmt.Errorf("%w; looking it up by name: %w", err, gerr)
			}
		}
		if !retry || attempt >= c.retry.MaxAttempts || ctx.Err() != nil {
			return nil, withAttempts(err, attempt)
		}
		if werr := c.waitToRetry(ctx, http.MethodPost, "/sandbox", attempt, err); werr != nil {
			return nil, werr
		}
	}
}

// lookupCreated fetches a sandbox by name after a create with an unknown
// outcome. If ctx has already ended it still looks, briefly, on a detached
// context, so that the caller learns about a sandbox it must clean up.
func (c *Client) lookupCreated(ctx context.Context, name string) (*Sandbox, error) {
	if ctx.Err() != nil {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(context.WithoutCancel(ctx), c.lookupTimeout())
		defer cancel()
	}
	sb, err := c.GetSandbox(ctx, name)
	if err != nil {
		return nil, err
	}
	return sb, nil
}

func (c *Client) lookupTimeout() time.Duration {
	return min(c.cfg.CleanupTimeout, 10*time.Second)
}

// isNotSentErr reports a network error that provably sent nothing.
func isNotSentErr(err error) bool {
	var ne *NetworkError
	return errors.As(err, &ne) && ne.NotSent
}

// createOutcomeUnknown reports whether a failed create may have made the
// sandbox anyway.
func createOutcomeUnknown(err error) bool {
	var ae *APIError
	if errors.As(err, &ae) {
		return ae.StatusCode >= 500 || isFailedToStart(ae)
	}
	var ne *NetworkError
	if errors.As(err, &ne) {
		return !ne.NotSent
	}
	// A body that could not be read or decoded after a 200: it was made.
	return true
}

// WaitUntilStarted polls GET /sandbox/{id} (at once, then with growing
// pauses up to Config.PollInterval; see Poll) until the sandbox is started,
// and returns it. Unlike Daytona's SDKs it cleans up what it gives up on:
// when the sandbox reaches error or build_failed, when ctx ends, or when a
// GET fails for good, it deletes the sandbox on a short context detached
// from ctx (so a cancelled caller still cleans up) and returns a
// *StartError saying whether the delete worked.
func (c *Client) WaitUntilStarted(ctx context.Context, sandboxID string) (*Sandbox, error) {
	if err := checkID("sandboxID", sandboxID); err != nil {
		return nil, err
	}
	var last *Sandbox
	err := poll(ctx, c.cfg.PollInterval/10, c.cfg.PollInterval, c.sleep, func() (bool, error) {
		sb, err := c.GetSandbox(ctx, sandboxID)
		if err != nil {
			return false, err
		}
		last = sb
		return sb.State == StateStarted || sb.State.Failed() || sb.State == StateDestroyed || sb.State == StateDestroying, nil
	})
	switch {
	case IsNotFound(err):
		return nil, &StartError{SandboxID: sandboxID, Deleted: true, Err: fmt.Errorf("%w: %w", ErrSandboxGone, err)}
	case err != nil:
		return last, c.giveUp(ctx, sandboxID, last, err)
	case last.State == StateStarted:
		return last, nil
	case last.State.Failed():
		return last, c.giveUp(ctx, sandboxID, last, ErrSandboxFailed)
	}
	// Destroyed or destroying: someone else deleted it.
	return last, &StartError{SandboxID: sandboxID, State: last.State, ErrorReason: last.ErrorReason, Deleted: true, Err: ErrSandboxGone}
}

// giveUp deletes a sandbox the client stopped waiting for and describes
// what happened.
func (c *Client) giveUp(ctx context.Context, id string, last *Sandbox, cause error) error {
	se := &StartError{SandboxID: id, Err: cause}
	if last != nil {
		se.State, se.ErrorReason = last.State, last.ErrorReason
	}
	dctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), c.cfg.CleanupTimeout)
	defer cancel()
	_, err := c.DeleteSandbox(dctx, id)
	switch {
	case err == nil, IsNotFound(err):
		se.Deleted = true
	default:
		se.CleanupErr = err
		// Daytona's id: sandboxId on a line is sandstep's, from the context.
		c.log.WarnContext(ctx, "daytona: could not delete a sandbox that failed to start", "daytonaId", id, "error", err.Error())
	}
	c.forget(id)
	return se
}

// CreateSandboxAndWait creates a sandbox (idempotently, see CreateSandbox)
// and waits until it is started (see WaitUntilStarted). Whatever it gives
// up on — a sandbox that failed to start, that reached a failure state, or
// that was not started when ctx ended — it asks Daytona to delete before
// returning the error; Daytona refuses (409) while the sandbox is still
// changing state, and then the error says so and the sandbox is the
// caller's to delete later (sandstep's reaper). It never returns a
// sandbox together with an error.
func (c *Client) CreateSandboxAndWait(ctx context.Context, p CreateSandboxParams) (*Sandbox, error) {
	sb, err := c.CreateSandbox(ctx, p)
	if err != nil {
		if sb != nil {
			return nil, c.giveUp(ctx, sb.ID, sb, err)
		}
		return nil, err
	}
	if sb.State == StateStarted {
		return sb, nil
	}
	started, err := c.WaitUntilStarted(ctx, sb.ID)
	if err != nil {
		return nil, err
	}
	return started, nil
}
