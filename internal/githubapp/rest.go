package githubapp

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strconv"
)

// apiVersion is the REST API version sandstep is written against.
const apiVersion = "2022-11-28"

// maxAnswerBytes bounds an answer GitHub sends: the calls here answer a
// few kilobytes.
const maxAnswerBytes = 4 << 20

// do sends method to path (under the API's base URL, escaped by the
// caller) with in as its JSON body unless nil, and decodes a 2xx answer
// into out unless nil. Another answer is an *apiError.
func (c *Client) do(ctx context.Context, method, path string, in, out any) error {
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
