package daytona

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"

	"github.com/coder/websocket"
)

// maxLogMessage bounds one WebSocket message of a log stream.
const maxLogMessage = 4 << 20

// FollowSessionCommandLogs streams a session command's output into stdout
// and stderr over the toolbox WebSocket
// (…/command/{cmdId}/logs?follow=true, ws:// or wss:// of the toolbox base,
// same auth headers). The server replays the log from the start, then
// tails it, and closes normally once the command has ended; FollowSession…
// then returns nil. Read the exit code with GetSessionCommand afterwards.
//
// Streaming is best effort (users report early closes): on an error, fall
// back to GetSessionCommandLogs and decide success from the exit code. A
// handshake refused with an HTTP status gives an *APIError. Not retried.
func (c *Client) FollowSessionCommandLogs(ctx context.Context, sandboxID, sessionID, commandID string, stdout, stderr io.Writer) error {
	if err := checkIDs("sandboxID", sandboxID, "sessionID", sessionID, "commandID", commandID); err != nil {
		return err
	}
	base, err := c.ToolboxBaseURL(ctx, sandboxID)
	if err != nil {
		return err
	}
	p := commandPath(sessionID, commandID) + "/logs"
	wsURL, err := websocketURL(base + p + "?follow=true")
	if err != nil {
		return err
	}
	h := http.Header{}
	key := c.key()
	c.setHeaders(h, key)

	dialCtx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	var timer *time.Timer
	if t := c.cfg.ResponseHeaderTimeout; t > 0 {
		timer = time.AfterFunc(t, func() { cancel(ErrResponseTimeout) })
	}
	conn, resp, err := websocket.Dial(dialCtx, wsURL, &websocket.DialOptions{HTTPClient: c.http, HTTPHeader: h})
	if timer != nil {
		timer.Stop() // the handshake is over; only ctx bounds the stream
	}
	if err != nil {
		if resp != nil && resp.StatusCode != http.StatusSwitchingProtocols {
			var body []byte
			if resp.Body != nil {
				body, _ = io.ReadAll(io.LimitReader(resp.Body, maxErrorBody))
				resp.Body.Close()
			}
			return newAPIError(http.MethodGet, p, resp.StatusCode, resp.Header, body, c.redactor([]string{key}))
		}
		ne := &NetworkError{Method: http.MethodGet, Path: p}
		switch {
		case ctx.Err() != nil:
			ne.Err = ctx.Err()
		case context.Cause(dialCtx) == ErrResponseTimeout:
			ne.Err = ErrResponseTimeout
		default:
			ne.NotSent = notSent(err)
			ne.Err = &redactedError{msg: c.redactor([]string{key})(err.Error()), err: err}
		}
		return ne
	}
	defer conn.CloseNow()
	conn.SetReadLimit(maxLogMessage)

	d := NewDemuxer(stdout, stderr)
	w := &trackedWriter{w: d}
	buf := make([]byte, 32<<10)
	for {
		_, r, err := conn.Reader(ctx)
		if err != nil {
			ferr := d.Flush()
			if websocket.CloseStatus(err) == websocket.StatusNormalClosure {
				return ferr
			}
			if ctx.Err() != nil {
				return &NetworkError{Method: http.MethodGet, Path: p, Err: ctx.Err()}
			}
			var ce websocket.CloseError
			if errors.As(err, &ce) {
				return fmt.Errorf("daytona: GET %s: log stream closed with status %d (%s)", p, int(ce.Code), snippet(ce.Reason, 200, c.redactor([]string{key})))
			}
			return &NetworkError{Method: http.MethodGet, Path: p, Err: &redactedError{msg: c.redactor([]string{key})(err.Error()), err: err}}
		}
		if _, err := io.CopyBuffer(w, r, buf); err != nil {
			if w.err != nil {
				return fmt.Errorf("daytona: GET %s: writing log output: %w", p, w.err)
			}
			if ctx.Err() != nil {
				return &NetworkError{Method: http.MethodGet, Path: p, Err: ctx.Err()}
			}
			return &NetworkError{Method: http.MethodGet, Path: p, Err: &redactedError{msg: c.redactor([]string{key})(err.Error()), err: err}}
		}
	}
}

// trackedWriter remembers a write error, to tell it from a read error.
type trackedWriter struct {
	w   io.Writer
	err error
}

func (t *trackedWriter) Write(p []byte) (int, error) {
	n, err := t.w.Write(p)
	if err != nil {
		t.err = err
	}
	return n, err
}

// websocketURL turns an http(s) URL into ws(s).
func websocketURL(u string) (string, error) {
	switch {
	case strings.HasPrefix(u, "https://"):
		return "wss://" + strings.TrimPrefix(u, "https://"), nil
	case strings.HasPrefix(u, "http://"):
		return "ws://" + strings.TrimPrefix(u, "http://"), nil
	}
	return "", &ValidationError{Field: "toolboxProxyUrl", Reason: "must be an http or https URL"}
}
