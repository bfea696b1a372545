package daytona

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"mime/multipart"
	"net/http"
	"net/url"
	"path"
	"slices"
	"strings"
	"sync"
	"time"
)

// Toolbox calls go through the sandbox's regional toolbox proxy:
// toolboxBase = TrimRight(toolboxProxyUrl, "/") + "/" + sandboxId, with the
// toolbox spec's paths appended. They take the sandbox ID (not its name).

// maxCachedToolboxes bounds the toolbox base cache; past it the cache is
// emptied (entries are cheap to fetch again).
const maxCachedToolboxes = 10000

// remember caches a sandbox's toolbox base from a DTO carrying
// toolboxProxyUrl. A changed URL (a region move) replaces the old one.
func (c *Client) remember(id, proxyURL string) {
	c.cache(id, proxyURL, false)
}

// KnowToolbox tells the client where a sandbox's toolbox proxy answers,
// as a record kept it from the sandbox's own DTO, so that its first
// toolbox call need not ask (GET /sandbox/{id}/toolbox-proxy-url). What
// the client has seen itself is fresher and is kept. A told URL is
// checked the first time a call through it fails (see send).
func (c *Client) KnowToolbox(sandboxID, proxyURL string) {
	c.cache(sandboxID, proxyURL, true)
}

// cache keeps a sandbox's proxy URL: seen in an answer, or told (taught),
// which never replaces one seen. Every answer carrying the URL and every
// record read comes here, so what changes nothing takes no write lock.
func (c *Client) cache(id, proxyURL string, taught bool) {
	if id == "" || proxyURL == "" || checkID("sandboxID", id) != nil {
		return
	}
	settled := func() bool {
		cur, known := c.proxyURL[id]
		return known && (taught || cur == proxyURL && !c.taught[id])
	}
	c.mu.RLock()
	done := settled()
	c.mu.RUnlock()
	if done {
		return
	}
	base, err := toolboxBase(proxyURL, id)
	if err != nil {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if settled() {
		return
	}
	if len(c.toolbox) >= maxCachedToolboxes {
		clear(c.toolbox)
		clear(c.proxyURL)
		clear(c.taught)
	}
	c.toolbox[id] = base
	c.proxyURL[id] = proxyURL
	if taught {
		c.taught[id] = true
	} else {
		delete(c.taught, id)
	}
}

// confirmed marks a told proxy URL as one an answer came through.
func (c *Client) confirmed(id string) {
	c.mu.Lock()
	delete(c.taught, id)
	c.mu.Unlock()
}

// forget drops a sandbox from the toolbox cache.
func (c *Client) forget(id string) {
	c.mu.Lock()
	delete(c.toolbox, id)
	delete(c.proxyURL, id)
	delete(c.taught, id)
	c.mu.Unlock()
}

// ToolboxBaseURL returns the toolbox base URL of a sandbox, fetching its
// proxy URL (GET /sandbox/{id}/toolbox-proxy-url) when no DTO seen so far
// carried one. Results are cached per sandbox ID.
func (c *Client) ToolboxBaseURL(ctx context.Context, sandboxID string) (string, error) {
	base, _, err := c.toolboxBaseOf(ctx, sandboxID)
	return base, err
}

// toolboxBaseOf is ToolboxBaseURL, saying whether the base was told and
// not yet confirmed.
func (c *Client) toolboxBaseOf(ctx context.Context, sandboxID string) (base string, taught bool, err error) {
	if err := checkID("sandboxID", sandboxID); err != nil {
		return "", false, err
	}
	c.mu.RLock()
	base, ok := c.toolbox[sandboxID]
	taught = c.taught[sandboxID]
	c.mu.RUnlock()
	if ok {
		return base, taught, nil
	}
	base, err = c.lookupToolbox(ctx, sandboxID)
	return base, false, err
}

// lookupToolbox asks Daytona for a sandbox's proxy URL, caches it and
// returns the sandbox's toolbox base.
func (c *Client) lookupToolbox(ctx context.Context, sandboxID string) (string, error) {
	cl := c.apiCall(http.MethodGet, "/sandbox/"+url.PathEscape(sandboxID)+"/toolbox-proxy-url")
	cl.mode = retrySafe
	var out toolboxProxyURLResponse
	if _, err := c.doJSON(ctx, cl, nil, &out); err != nil {
		return "", err
	}
	base, err := toolboxBase(out.URL, sandboxID)
	if err != nil {
		return "", fmt.Errorf("daytona: GET %s: %w", cl.path, err)
	}
	c.remember(sandboxID, out.URL)
	return base, nil
}

// retoldToolbox is what send does when a call through a told proxy URL
// failed: it asks Daytona for the URL and says whether it differs (cl is
// then pointed at it, to be sent again) or the failure stands.
func (c *Client) retoldToolbox(ctx context.Context, cl *call) bool {
	id := cl.taught
	cl.taught = ""
	base, err := c.lookupToolbox(ctx, id)
	if err != nil || base == cl.base {
		return false
	}
	cl.base = base
	return true
}

// toolboxBase joins a proxy URL and a sandbox ID.
func toolboxBase(proxyURL, id string) (string, error) {
	u, err := parseBaseURL(proxyURL)
	if err != nil {
		return "", &ValidationError{Field: "toolboxProxyUrl", Reason: err.Error()}
	}
	return strings.TrimRight(u.String(), "/") + "/" + url.PathEscape(id), nil
}

// toolboxCall prepares a call to a toolbox path of a sandbox.
func (c *Client) toolboxCall(ctx context.Context, sandboxID, method, p string) (*call, error) {
	base, taught, err := c.toolboxBaseOf(ctx, sandboxID)
	if err != nil {
		return nil, err
	}
	cl := &call{method: method, base: base, path: p}
	if taught {
		cl.taught = sandboxID
	}
	return cl, nil
}

// ExecuteCommand runs a command synchronously (POST /process/execute) and
// returns its exit code and interleaved output. A non-zero exit is not an
// error. A timeout is always sent (req.Timeout seconds, else
// Config.ExecTimeout) and the wait for the answer is bounded by it plus 5s;
// a command killed at its timeout gives a *CommandTimeoutError (HTTP 408),
// an answer without an exit code an error wrapping ErrNoExitCode.
// Output beyond Config.MaxOutputBytes is dropped while reading and
// Truncated set. Not retried once the request may have reached the server.
func (c *Client) ExecuteCommand(ctx context.Context, sandboxID string, req ExecuteRequest) (*ExecuteResponse, error) {
	if err := checkID("sandboxID", sandboxID); err != nil {
		return nil, err
	}
	if strings.TrimSpace(req.Command) == "" {
		return nil, &ValidationError{Field: "Command", Reason: "must not be empty"}
	}
	if req.Timeout < 0 {
		return nil, &ValidationError{Field: "Timeout", Reason: "must not be negative"}
	}
	if req.Timeout == 0 {
		req.Timeout = int((c.cfg.ExecTimeout + time.Second - 1) / time.Second)
	}
	cl, err := c.toolboxCall(ctx, sandboxID, http.MethodPost, "/process/execute")
	if err != nil {
		return nil, err
	}
	cl.mode = retryUnsafe
	cl.timeout = time.Duration(req.Timeout)*time.Second + 5*time.Second
	if err := setJSONBody(cl, req); err != nil {
		return nil, err
	}
	resp, err := c.send(ctx, cl)
	if err != nil {
		var ae *APIError
		if errors.As(err, &ae) && ae.StatusCode == http.StatusRequestTimeout {
			return nil, &CommandTimeoutError{SandboxID: sandboxID, Timeout: time.Duration(req.Timeout) * time.Second, Err: ae}
		}
		return nil, err
	}
	defer resp.Body.Close()
	var out ExecuteResponse
	var exitCode *int
	err = c.decodeBounded(ctx, cl, resp, []jsonField{
		{name: "exitCode", optNum: &exitCode},
		{name: "result", str: &out.Result, limit: c.cfg.MaxOutputBytes, trunc: &out.Truncated},
	})
	if err != nil {
		return nil, err
	}
	if exitCode == nil {
		// Read as 0 it would report a command that failed as succeeded.
		return nil, fmt.Errorf("daytona: %s %s: %w", cl.method, cl.path, ErrNoExitCode)
	}
	out.ExitCode = *exitCode
	return &out, nil
}

// setJSONBody encodes v as cl's body.
func setJSONBody(cl *call, v any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return fmt.Errorf("daytona: %s %s: encoding request: %w", cl.method, cl.path, err)
	}
	cl.body = b
	cl.contentType = "application/json"
	cl.accept = "application/json"
	return nil
}

// decodeBounded decodes a JSON object response with decodeBoundedObject.
func (c *Client) decodeBounded(ctx context.Context, cl *call, resp *http.Response, fields []jsonField) error {
	err := decodeBoundedObject(resp.Body, fields)
	switch {
	case err == nil:
		return nil
	case errors.Is(err, errJSONSyntax) || strings.HasPrefix(err.Error(), "json:"):
		return fmt.Errorf("daytona: %s %s: decoding %d response: %w", cl.method, cl.path, resp.StatusCode, err)
	default:
		return &NetworkError{Method: cl.method, Path: cl.path, Err: readErr(ctx, err)}
	}
}

// CreateSession creates a shell session (POST /process/session; 201). A
// session runs its commands one after another: use one per concurrent job.
// 409 if it exists.
func (c *Client) CreateSession(ctx context.Context, sandboxID, sessionID string) error {
	if err := checkIDs("sandboxID", sandboxID, "sessionID", sessionID); err != nil {
		return err
	}
	cl, err := c.toolboxCall(ctx, sandboxID, http.MethodPost, "/process/session")
	if err != nil {
		return err
	}
	cl.mode = retryUnsafe
	_, err = c.doJSON(ctx, cl, createSessionRequest{SessionID: sessionID}, nil)
	return err
}

// DeleteSession deletes a session, killing its shell and commands
// (DELETE /process/session/{id}; 204). Retried on transient errors; a 404
// after a retry means it is gone.
func (c *Client) DeleteSession(ctx context.Context, sandboxID, sessionID string) error {
	if err := checkIDs("sandboxID", sandboxID, "sessionID", sessionID); err != nil {
		return err
	}
	cl, err := c.toolboxCall(ctx, sandboxID, http.MethodDelete, "/process/session/"+url.PathEscape(sessionID))
	if err != nil {
		return err
	}
	cl.mode = retrySafe
	_, err = c.doJSON(ctx, cl, nil, nil)
	return err
}

// ExecuteSessionCommand runs a command in a session
// (POST /process/session/{id}/exec). With RunAsync it returns at once with
// the command id (202); otherwise (200) it waits for the command, without
// any server-side timeout, so ctx must carry the deadline, and returns the
// output (bounded by Config.MaxOutputBytes) and exit code. Not retried once
// the request may have reached the server.
func (c *Client) ExecuteSessionCommand(ctx context.Context, sandboxID, sessionID string, req SessionExecuteRequest) (*SessionExecuteResponse, error) {
	if err := checkIDs("sandboxID", sandboxID, "sessionID", sessionID); err != nil {
		return nil, err
	}
	if strings.TrimSpace(req.Command) == "" {
		return nil, &ValidationError{Field: "Command", Reason: "must not be empty"}
	}
	cl, err := c.toolboxCall(ctx, sandboxID, http.MethodPost, "/process/session/"+url.PathEscape(sessionID)+"/exec")
	if err != nil {
		return nil, err
	}
	cl.mode = retryUnsafe
	cl.ok = statusIn(http.StatusOK, http.StatusAccepted)
	if !req.RunAsync {
		cl.timeout = -1 // the command's own run time; ctx bounds it
	}
	if err := setJSONBody(cl, req); err != nil {
		return nil, err
	}
	resp, err := c.send(ctx, cl)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	var out SessionExecuteResponse
	lim := c.cfg.MaxOutputBytes
	err = c.decodeBounded(ctx, cl, resp, []jsonField{
		{name: "cmdId", str: &out.CmdID, limit: maxIDLen, strict: true},
		{name: "output", str: &out.Output, limit: lim, trunc: &out.OutputTruncated},
		{name: "stdout", str: &out.Stdout, limit: lim, trunc: &out.Truncated},
		{name: "stderr", str: &out.Stderr, limit: lim, trunc: &out.Truncated},
		{name: "exitCode", optNum: &out.ExitCode},
	})
	if err != nil {
		return nil, err
	}
	if out.CmdID == "" {
		return nil, fmt.Errorf("daytona: %s %s: response has no cmdId", cl.method, cl.path)
	}
	return &out, nil
}

// GetSessionCommand returns a session command's status
// (GET /process/session/{id}/command/{cmdId}). ExitCode is nil while the
// command runs.
func (c *Client) GetSessionCommand(ctx context.Context, sandboxID, sessionID, commandID string) (*Command, error) {
	if err := checkIDs("sandboxID", sandboxID, "sessionID", sessionID, "commandID", commandID); err != nil {
		return nil, err
	}
	cl, err := c.toolboxCall(ctx, sandboxID, http.MethodGet, commandPath(sessionID, commandID))
	if err != nil {
		return nil, err
	}
	cl.mode = retrySafe
	var out Command
	if _, err := c.doJSON(ctx, cl, nil, &out); err != nil {
		return nil, err
	}
	return &out, nil
}

// GetSessionCommandLogs returns the log snapshot of a session command
// (GET …/command/{cmdId}/logs): JSON {output, stdout, stderr} because the
// client sends X-Daytona-SDK-Version. A plain-text answer (an old daemon)
// is split by its stream markers. Each field is bounded by
// Config.MaxOutputBytes (Truncated).
func (c *Client) GetSessionCommandLogs(ctx context.Context, sandboxID, sessionID, commandID string) (*SessionCommandLogs, error) {
	if err := checkIDs("sandboxID", sandboxID, "sessionID", sessionID, "commandID", commandID); err != nil {
		return nil, err
	}
	cl, err := c.toolboxCall(ctx, sandboxID, http.MethodGet, commandPath(sessionID, commandID)+"/logs")
	if err != nil {
		return nil, err
	}
	cl.mode = retrySafe
	cl.accept = "application/json, text/plain;q=0.5"
	resp, err := c.send(ctx, cl)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	var out SessionCommandLogs
	lim := c.cfg.MaxOutputBytes
	if mt, _, _ := mime.ParseMediaType(resp.Header.Get("Content-Type")); mt == "application/json" {
		err := c.decodeBounded(ctx, cl, resp, []jsonField{
			{name: "output", str: &out.Output, limit: lim, trunc: &out.OutputTruncated},
			{name: "stdout", str: &out.Stdout, limit: lim, trunc: &out.Truncated},
			{name: "stderr", str: &out.Stderr, limit: lim, trunc: &out.Truncated},
		})
		if err != nil {
			return nil, err
		}
		return &out, nil
	}
	raw, err := readLimited(resp.Body, lim)
	if err != nil && !errors.Is(err, errTooLarge) {
		return nil, &NetworkError{Method: cl.method, Path: cl.path, Err: readErr(ctx, err)}
	}
	out.Truncated = errors.Is(err, errTooLarge)
	out.OutputTruncated = out.Truncated
	var so, se strings.Builder
	d := NewDemuxer(&so, &se)
	_, _ = d.Write(raw)
	_ = d.Flush()
	out.Output, out.Stdout, out.Stderr = string(raw), so.String(), se.String()
	return &out, nil
}

func commandPath(sessionID, commandID string) string {
	return "/process/session/" + url.PathEscape(sessionID) + "/command/" + url.PathEscape(commandID)
}

// checkIDs validates (field, value) pairs with checkID.
func checkIDs(pairs ...string) error {
	for i := 0; i+1 < len(pairs); i += 2 {
		if err := checkID(pairs[i], pairs[i+1]); err != nil {
			return err
		}
	}
	return nil
}

// errTooLarge marks a body cut by readLimited.
var errTooLarge = errors.New("body larger than the limit")

// readLimited reads at most limit bytes of r; if r holds more, it returns
// the first limit bytes and errTooLarge (having read limit+1 bytes only).
func readLimited(r io.Reader, limit int64) ([]byte, error) {
	b, err := io.ReadAll(io.LimitReader(r, limit+1))
	if err != nil {
		return b, err
	}
	if int64(len(b)) > limit {
		return b[:limit], errTooLarge
	}
	return b, nil
}

// UploadFile is one file for UploadFiles: Content is streamed to Path.
type UploadFile struct {
	Path    string
	Content io.Reader
}

// UploadFiles writes files into the sandbox (POST /files/bulk-upload,
// multipart/form-data with files[i].path and files[i].file), creating
// parent directories and overwriting. The body is streamed, not buffered.
// It is not retried, because the readers are consumed: on a transient error
// call again with fresh readers (uploads overwrite, so that is safe).
//
// The contents are read by a goroutine. When ctx ends UploadFiles returns
// at once, and that goroutine may still be inside a Content's Read (a
// stalled pipe or network stream): it reads no further once that Read
// returns, but until then the source is not free again, as with the
// request body net/http may still read after Do returns. Closing such a
// source wakes it. The files slice itself is not touched after return.
func (c *Client) UploadFiles(ctx context.Context, sandboxID string, files []UploadFile) error {
	if err := checkID("sandboxID", sandboxID); err != nil {
		return err
	}
	if len(files) == 0 {
		return &ValidationError{Field: "files", Reason: "must not be empty"}
	}
	for i, f := range files {
		field := fmt.Sprintf("files[%d].Path", i)
		if err := checkPath(field, f.Path); err != nil {
			return err
		}
		if strings.ContainsAny(f.Path, "\r\n") {
			return &ValidationError{Field: field, Reason: "must not contain line breaks"}
		}
		if f.Content == nil {
			return &ValidationError{Field: fmt.Sprintf("files[%d].Content", i), Reason: "is nil"}
		}
	}
	cl, err := c.toolboxCall(ctx, sandboxID, http.MethodPost, "/files/bulk-upload")
	if err != nil {
		return err
	}
	cl.mode = retryNever
	cl.timeout = -1 // the upload itself may take long; ctx bounds it
	// The writer may outlive this call (see above): give it its own slice.
	files = slices.Clone(files)

	var (
		mu      sync.Mutex
		prodErr error
		pr      *io.PipeReader
		done    = make(chan struct{})
		started bool
		unwatch func() bool
	)
	cl.bodyFn = func() (io.Reader, string, error) {
		r, pw := io.Pipe()
		pr = r
		mw := multipart.NewWriter(pw)
		started = true
		// net/http waits for its body read to return before Do does:
		// wake it when ctx ends, the writer may be stuck in a Read.
		unwatch = context.AfterFunc(ctx, func() { r.CloseWithError(ctx.Err()) })
		go func() {
			defer close(done)
			err := writeUploadParts(mw, files)
			if err == nil {
				err = mw.Close()
			}
			mu.Lock()
			prodErr = err
			mu.Unlock()
			pw.CloseWithError(err)
		}()
		return pr, mw.FormDataContentType(), nil
	}
	resp, err := c.send(ctx, cl)
	if started {
		unwatch()
		// Unblock the writer if the transport stopped reading early.
		pr.CloseWithError(errUploadAborted)
		// The writer may be in a Read of the caller's content, which a
		// closed pipe does not wake: once ctx ends it is not waited for.
		// An answered upload stays answered (its writer is usually done
		// already: checked first), whatever ctx does now.
		select {
		case <-done:
		default:
			select {
			case <-done:
			case <-ctx.Done():
			}
		}
	}
	mu.Lock()
	perr := prodErr
	mu.Unlock()
	// A failure to read the caller's content is the root cause even when
	// the request failed as a result.
	var se *sourceError
	if errors.As(perr, &se) {
		if resp != nil {
			resp.Body.Close()
		}
		return fmt.Errorf("daytona: POST %s: %w", cl.path, se)
	}
	if err != nil {
		return err
	}
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, maxErrorBody))
	resp.Body.Close()
	return nil
}

var errUploadAborted = errors.New("upload aborted")

// sourceError is a failure to read an upload's content.
type sourceError struct {
	path string
	err  error
}

func (e *sourceError) Error() string { return "reading content for " + e.path + ": " + e.err.Error() }
func (e *sourceError) Unwrap() error { return e.err }

func writeUploadParts(mw *multipart.Writer, files []UploadFile) error {
	for i, f := range files {
		if err := mw.WriteField(fmt.Sprintf("files[%d].path", i), f.Path); err != nil {
			return err
		}
		w, err := mw.CreateFormFile(fmt.Sprintf("files[%d].file", i), path.Base(f.Path))
		if err != nil {
			return err
		}
		if _, err := io.Copy(w, readerOnly{f.Content, f.Path}); err != nil {
			return err
		}
	}
	return nil
}

// readerOnly tags read errors of an upload source so they can be told from
// pipe errors (and hides WriterTo so io.Copy reads through it).
type readerOnly struct {
	r    io.Reader
	path string
}

func (r readerOnly) Read(p []byte) (int, error) {
	n, err := r.r.Read(p)
	if err != nil && err != io.EOF {
		err = &sourceError{path: r.path, err: err}
	}
	return n, err
}

// SizedWriter is a writer DownloadFile tells the file's size, when the
// answer announces it, before the first byte: it can make room once (a
// buffer doubling as it fills allocates 2.5 to 4 times a large file) or
// refuse a file over its limit unread. Its error is DownloadFile's.
type SizedWriter interface {
	io.Writer
	Size(n int64) error
}

// DownloadFile streams a sandbox file into w (GET /files/download?path=)
// and returns the number of bytes written. Retried on transient errors
// only until the first byte was written.
func (c *Client) DownloadFile(ctx context.Context, sandboxID, filePath string, w io.Writer) (int64, error) {
	if err := checkID("sandboxID", sandboxID); err != nil {
		return 0, err
	}
	if err := checkPath("path", filePath); err != nil {
		return 0, err
	}
	if w == nil {
		return 0, &ValidationError{Field: "w", Reason: "is nil"}
	}
	cl, err := c.toolboxCall(ctx, sandboxID, http.MethodGet, "/files/download")
	if err != nil {
		return 0, err
	}
	cl.query = url.Values{"path": {filePath}}
	cl.mode = retrySafe
	resp, err := c.send(ctx, cl)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	if sw, ok := w.(SizedWriter); ok && resp.ContentLength >= 0 {
		if err := sw.Size(resp.ContentLength); err != nil {
			return 0, err
		}
	}
	n, err := io.Copy(w, resp.Body)
	if err != nil {
		return n, &NetworkError{Method: cl.method, Path: cl.path, Err: readErr(ctx, err)}
	}
	return n, nil
}

// GitClone clones a repository into the sandbox (POST /git/clone). The
// password (and any credentials in the URL) never appear in errors. A
// clone may take long: ctx bounds it. Not retried once sent.
func (c *Client) GitClone(ctx context.Context, sandboxID string, req GitCloneRequest) error {
	if err := checkID("sandboxID", sandboxID); err != nil {
		return err
	}
	if strings.TrimSpace(req.URL) == "" {
		return &ValidationError{Field: "URL", Reason: "must not be empty"}
	}
	if err := checkPath("Path", req.Path); err != nil {
		return err
	}
	if req.Depth < 0 {
		return &ValidationError{Field: "Depth", Reason: "must not be negative"}
	}
	cl, err := c.toolboxCall(ctx, sandboxID, http.MethodPost, "/git/clone")
	if err != nil {
		return err
	}
	cl.mode = retryUnsafe
	cl.timeout = -1
	cl.secrets = []string{req.Password}
	if u, err := url.Parse(req.URL); err == nil && u.User != nil {
		if pw, ok := u.User.Password(); ok {
			cl.secrets = append(cl.secrets, pw)
		} else if name := u.User.Username(); len(name) >= 8 {
			cl.secrets = append(cl.secrets, name) // a token used as user name
		}
	}
	if err := setJSONBody(cl, req); err != nil {
		return err
	}
	cl.accept = ""
	_, err = c.doJSON(ctx, cl, nil, nil)
	return err
}
