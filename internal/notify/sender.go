package notify

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"strings"
	"syscall"
	"time"

	"github.com/sandstep/sandstep/internal/sandstep"
)

// DefaultTimeout bounds one attempt: connecting, sending and the answer.
const DefaultTimeout = 10 * time.Second

// maxStatusBytes bounds the answer's status line quoted in a failed
// attempt's message.
const maxStatusBytes = 64

// maxHeaderBytes bounds the header of a receiver's answer.
const maxHeaderBytes = 64 << 10

// maxReasonBytes bounds why an attempt could not reach the receiver, in
// its message.
const maxReasonBytes = 200

// Options configure a Sender.
type Options struct {
	// Local allows http URLs and loopback addresses: the local stack
	// (SANDSTEP_ENV=local), whose receivers listen on 127.0.0.1.
	Local bool
	// Timeout bounds one attempt (DefaultTimeout when 0).
	Timeout time.Duration
	// Lookup resolves a host name to its addresses instead of the system
	// resolver: tests use it to make a name resolve to a refused address.
	// What it returns is checked like any resolved address.
	Lookup func(ctx context.Context, host string) ([]netip.Addr, error)
	// UserAgent is the User-Agent header (default "sandstep-notify").
	UserAgent string
}

// Sender posts notices. It is safe for concurrent use.
type Sender struct {
	client *http.Client
	local  bool
	lookup func(ctx context.Context, host string) ([]netip.Addr, error)
	dialer *net.Dialer
	agent  string
}

// NewSender returns a Sender.
func NewSender(opts Options) *Sender {
	if opts.Timeout <= 0 {
		opts.Timeout = DefaultTimeout
	}
	if opts.UserAgent == "" {
		opts.UserAgent = "sandstep-notify"
	}
	s := &Sender{local: opts.Local, lookup: opts.Lookup, agent: opts.UserAgent}
	s.dialer = &net.Dialer{
		Timeout: opts.Timeout,
		// Called with the address about to be connected to, after name
		// resolution: the check no resolver answer can get round.
		Control: func(_, address string, _ syscall.RawConn) error {
			ap, err := netip.ParseAddrPort(address)
			if err != nil {
				return &refusedError{kind: "unparsable"}
			}
			return checkAddr(ap.Addr(), s.local)
		},
	}
	s.client = &http.Client{
		Timeout: opts.Timeout,
		Transport: &http.Transport{
			// No proxy: the address checked must be the receiver's.
			Proxy:               nil,
			DialContext:         s.dial,
			TLSHandshakeTimeout: opts.Timeout,
			// Only the status is read: a receiver's header is held to
			// maxHeaderBytes, not the client's default 10 MB (several times
			// over in memory, and the reaper makes noticesAtOnce at once).
			MaxResponseHeaderBytes: maxHeaderBytes,
			MaxIdleConns:           16,
			IdleConnTimeout:        30 * time.Second,
		},
		// A redirect could lead anywhere; the answer stands as it is.
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
	return s
}

// CheckURL says whether url may receive notices, as far as can be known
// without connecting: an EINVALID error naming "url" if not.
func (s *Sender) CheckURL(rawURL string) error {
	_, err := checkURL(rawURL, s.local)
	return err
}

// Send makes one attempt to deliver a task.ended notice: body, posted to
// rawURL with the delivery id and, when secret is not empty, its
// signature. nil means the receiver accepted it (a 2xx answer). Errors:
// EINVALID when the URL or the address it resolves to is refused (trying
// again will not help), ETIMEOUT when the receiver did not answer in
// time, ETRANSIENT for any other failure, a non-2xx answer included.
// Messages name the host, never the whole URL.
func (s *Sender) Send(ctx context.Context, rawURL, deliveryID string, body []byte, secret string) error {
	u, err := checkURL(rawURL, s.local)
	if err != nil {
		return err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, u.String(), bytes.NewReader(body))
	if err != nil {
		return sandstep.Invalid("url", "is not a valid request URL")
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", s.agent)
	req.Header.Set(HeaderEvent, EventTaskEnded)
	req.Header.Set(HeaderDelivery, deliveryID)
	if secret != "" {
		req.Header.Set(HeaderSignature, Sign([]byte(secret), body))
	}
	res, err := s.client.Do(req)
	if err != nil {
		return classify(u.Host, err)
	}
	defer res.Body.Close()
	// Read a little of the answer so the connection can be reused.
	_, _ = io.Copy(io.Discard, io.LimitReader(res.Body, 64<<10))
	if res.StatusCode < 200 || res.StatusCode > 299 {
		// The reason phrase is the receiver's, as long as it likes (up to
		// maxHeaderBytes): the message becomes the notice's
		// lastError, kept in the task's record and shown.
		what := "answered " + receiverText(res.Status, maxStatusBytes)
		if res.StatusCode >= 300 && res.StatusCode < 400 {
			what += " (redirects are not followed)"
		}
		return sandstep.Errorf(sandstep.ETRANSIENT, "%s %s", u.Host, what)
	}
	return nil
}

// dial connects to addr with the checking dialer, resolving with Lookup
// when there is one.
func (s *Sender) dial(ctx context.Context, network, addr string) (net.Conn, error) {
	if s.lookup == nil {
		return s.dialer.DialContext(ctx, network, addr)
	}
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return nil, err
	}
	ips := []netip.Addr{}
	if ip, err := netip.ParseAddr(host); err == nil {
		ips = append(ips, ip)
	} else if ips, err = s.lookup(ctx, host); err != nil {
		return nil, err
	}
	if len(ips) == 0 {
		return nil, &net.DNSError{Err: "no addresses", Name: host, IsNotFound: true}
	}
	var first error
	for _, ip := range ips {
		c, err := s.dialer.DialContext(ctx, network, net.JoinHostPort(ip.String(), port))
		if err == nil {
			return c, nil
		}
		if first == nil {
			first = err
		}
	}
	return nil, first
}

// classify turns a failed attempt into a sandstep error. The request's
// URL, which may hold a token, is left out of it.
func classify(host string, err error) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		err = ue.Err
	}
	var refused *refusedError
	if errors.As(err, &refused) {
		return sandstep.Wrap(err, sandstep.EINVALID, "refused: %s resolves to %s, a %s address", host, refused.addr, refused.kind)
	}
	var ne net.Error
	if errors.Is(err, context.DeadlineExceeded) || (errors.As(err, &ne) && ne.Timeout()) {
		return sandstep.Wrap(err, sandstep.ETIMEOUT, "%s did not answer within the attempt's time", host)
	}
	reason := err.Error()
	var oe *net.OpError
	var de *net.DNSError
	switch {
	case errors.As(err, &de):
		reason = "its name does not resolve"
	case errors.As(err, &oe) && oe.Err != nil:
		reason = oe.Err.Error()
	}
	// The client's error may quote the receiver's answer (a malformed
	// status line, as long as the receiver likes).
	return sandstep.Wrap(err, sandstep.ETRANSIENT, "%s could not be reached: %s", host, receiverText(reason, maxReasonBytes))
}

// receiverText is text the receiver chose, as a failed attempt's message
// quotes it: at most n bytes, and valid UTF-8 (the message becomes the
// notice's lastError, which DynamoDB's client stores with U+FFFD for any
// other byte: a settling write read back would not be known as its own).
func receiverText(s string, n int) string {
	return sandstep.Clip(strings.ToValidUTF8(s, "\uFFFD"), n)
}
