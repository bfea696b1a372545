package daytona

import (
	"context"
	"io"
	"net/http"
)

// Warm opens a connection to the API ahead of the first call: an
// unauthenticated GET of its liveness endpoint (/health, HealthController_live
// in the spec), whose answer is dropped so that the connection stays for
// the next call. In AWS that is a DNS lookup and a TLS handshake off the
// first request's path. A failure is ignored: the first call dials again.
func (c *Client) Warm(ctx context.Context) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, c.baseString+"/health", nil)
	if err != nil {
		return
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return
	}
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	_ = resp.Body.Close()
}
