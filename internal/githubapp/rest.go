package githubapp

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"time"

	"github.com/sandstep/sandstep/internal/pause"
)

// apiVersion is the REST API version sandstep is written against.
const apiVersion = "2022-11-28"

// maxAnswerBytes bounds an answer GitHub sends: the calls here answer a
// few kilobytes.
const maxAnswerBytes = 4 << 20

// replicationLag is how long after its minting GitHub may not know an
// installation token everywhere yet: it answers 401 (the token not found)
// or, for a token scoped to some permissions, 403 (they are not
// replicated yet), and the same call succeeds a moment later.
const replicationLag = 5 * time.Second

// do sends method to path (under the API's base URL, escaped by the
// caller) with in as its JSON body unless nil, and decodes a 2xx answer
// into out unless nil. Another answer is an *apiError. A call on an
// installation token minted within replicationLag that GitHub refuses
// for the token is sent again after a pause (1 s, then 2 s) when the
// refusal came while the lag lasted (the pause may end after it: the
// token has settled then) and ctx's deadline leaves the pause: otherwise
// a pull request or a comment asked for on a new token could fail for
// good.
func (c *Client) do(ctx context.Context, method, path string, in, out any) error {
	minted, fresh := ctx.Value(mintedKey{}).(time.Time)
	wait := c.replicationWait
	for again := 0; ; again++ {
		err := c.doOnce(ctx, method, path, in, out)
		var er *apiError
		if !fresh || again == 2 || !errors.As(err, &er) || !refusedToken(er) || c.now().Sub(minted) >= replicationLag {
			return err
		}
		// A pause the caller's deadline would cut asks nothing again: the
		// refusal now, and the caller keeps its time for what follows.
		if d, ok := ctx.Deadline(); ok && time.Until(d) < wait {
			return err
		}
		if !pause.For(ctx, wait) {
			return err
		}
		wait *= 2
	}
}

// mintedKey carries, on an installation token's calls, when it was minted.
type mintedKey struct{}

func (c *Client) doOnce(ctx context.Context, method, path string, in, out any) error {
	var body io.Reader
	if in != nil {
		b, err := json.Marshal(in)
		if err != nil {
			return fmt.Errorf("encoding the request: %w", err)
		}
		body = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, c.base.String()+path, body)
	if err != nil {
		return err
	}
	req.Header.Set("Accept", "application/vnd.github+json")
	req.Header.Set("X-GitHub-Api-Version", apiVersion)
	req.Header.Set("User-Agent", "sandstep")
	if in != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, maxAnswerBytes+1))
	switch {
	case err != nil:
		return fmt.Errorf("reading GitHub's answer: %w", err)
	case len(data) > maxAnswerBytes:
		return fmt.Errorf("GitHub's answer is over %d bytes", maxAnswerBytes)
	case resp.StatusCode/100 != 2:
		e := &apiError{Status: resp.StatusCode, Header: resp.Header}
		_ = json.Unmarshal(data, e) // a page that is not JSON keeps its status
		return e
	case out == nil || resp.StatusCode == http.StatusNoContent:
		return nil
	}
	if err := json.Unmarshal(data, out); err != nil {
		return fmt.Errorf("reading GitHub's answer: %w", err)
	}
	return nil
}

// apiError is GitHub's answer to a call it refused.
type apiError struct {
	Status           int          `json:"-"`
	Header           http.Header  `json:"-"`
	Message          string       `json:"message"`
	DocumentationURL string       `json:"documentation_url"`
	Errors           []fieldError `json:"errors"`
}

func (e *apiError) Error() string {
	if t := errorText(e); t != "" {
		return fmt.Sprintf("GitHub answered %d: %s", e.Status, t)
	}
	return fmt.Sprintf("GitHub answered %d", e.Status)
}

// fieldError is one entry of an answer's errors array: an object, or
// for some endpoints a bare string.
type fieldError struct {
	Resource string `json:"resource"`
	Field    string `json:"field"`
	Code     string `json:"code"`
	Message  string `json:"message"`
}

func (f *fieldError) UnmarshalJSON(b []byte) error {
	var s string
	if json.Unmarshal(b, &s) == nil {
		*f = fieldError{Message: s}
		return nil
	}
	type plain fieldError
	return json.Unmarshal(b, (*plain)(f))
}

// itoa is the path element of an id or a number.
func itoa[T int | int64](n T) string { return strconv.FormatInt(int64(n), 10) }
