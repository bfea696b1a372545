package notify

import (
	"context"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/sandstep/sandstep/internal/sandstep"
)

// delivery is what a test receiver got.
type delivery struct {
	header http.Header
	body   []byte
}

// receiver is an httptest server on loopback that answers with the
// statuses given, one per request (then the last), and keeps what it got.
type receiver struct {
	*httptest.Server
	mu       sync.Mutex
	got      []delivery
	statuses []int
}

func newReceiver(t *testing.T, statuses ...int) *receiver {
	r := &receiver{statuses: statuses}
	r.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		body, _ := io.ReadAll(req.Body)
		r.mu.Lock()
		r.got = append(r.got, delivery{req.Header.Clone(), body})
		status := r.statuses[min(len(r.got), len(r.statuses))-1]
		r.mu.Unlock()
		if status == http.StatusFound {
			w.Header().Set("Location", "/elsewhere")
		}
		w.WriteHeader(status)
	}))
	t.Cleanup(r.Close)
	return r
}

func (r *receiver) deliveries() []delivery {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]delivery(nil), r.got...)
}

func TestSendSignsWhatItSends(t *testing.T) {
	rc := newReceiver(t, http.StatusNoContent)
	s := NewSender(Options{Local: true})
	body := []byte(`{"taskId":"tsk_a","status":"succeeded"}`)
	if err := s.Send(context.Background(), rc.URL+"/hook?k=v", "dlv_1", body, "s3cret"); err != nil {
		t.Fatal(err)
	}
	got := rc.deliveries()
	if len(got) != 1 {
		t.Fatalf("%d deliveries, want 1", len(got))
	}
	d := got[0]
	if string(d.body) != string(body) {
		t.Errorf("body %s, want %s", d.body, body)
	}
	if !Verify([]byte("s3cret"), d.body, d.header.Get(HeaderSignature)) {
		t.Errorf("%s %q does not verify", HeaderSignature, d.header.Get(HeaderSignature))
	}
	for h, want := range map[string]string{HeaderDelivery: "dlv_1", HeaderEvent: EventTaskEnded, "Content-Type": "application/json"} {
		if g := d.header.Get(h); g != want {
			t.Errorf("%s = %q, want %q", h, g, want)
		}
	}
}

func TestSendWithoutSecretIsUnsigned(t *testing.T) {
	rc := newReceiver(t, http.StatusOK)
	if err := NewSender(Options{Local: true}).Send(context.Background(), rc.URL, "dlv_2", []byte(`{}`), ""); err != nil {
		t.Fatal(err)
	}
	if d := rc.deliveries(); len(d) != 1 || d[0].header.Get(HeaderSignature) != "" || d[0].header.Get(HeaderDelivery) != "dlv_2" {
		t.Errorf("deliveries %+v, want one with a delivery id and no signature", d)
	}
}

func TestSendAnswers(t *testing.T) {
	tests := []struct {
		name   string
		status int
		code   sandstep.Code // "" for delivered
	}{
		{"200", http.StatusOK, ""},
		{"202", http.StatusAccepted, ""},
		{"204", http.StatusNoContent, ""},
		{"302 not followed", http.StatusFound, sandstep.ETRANSIENT},
		{"400", http.StatusBadRequest, sandstep.ETRANSIENT},
		{"500", http.StatusInternalServerError, sandstep.ETRANSIENT},
		{"503", http.StatusServiceUnavailable, sandstep.ETRANSIENT},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rc := newReceiver(t, tt.status)
			err := NewSender(Options{Local: true}).Send(context.Background(), rc.URL+"/hook", "dlv_3", []byte(`{}`), "k")
			if got := sandstep.ErrorCode(err); got != tt.code {
				t.Fatalf("error %v (%q), want %q", err, got, tt.code)
			}
			// The one request is the notice itself: a redirect is not followed.
			if d := rc.deliveries(); len(d) != 1 {
				t.Errorf("%d requests, want 1", len(d))
			}
		})
	}
}

func TestSendGivesUpOnAReceiverThatNeverAnswers(t *testing.T) {
	release := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(http.ResponseWriter, *http.Request) { <-release }))
	t.Cleanup(srv.Close)
	t.Cleanup(func() { close(release) })
	err := NewSender(Options{Local: true, Timeout: 50 * time.Millisecond}).Send(context.Background(), srv.URL, "dlv_4", []byte(`{}`), "")
	if sandstep.ErrorCode(err) != sandstep.ETIMEOUT {
		t.Errorf("error %v, want timeout", err)
	}
}

func TestSendMessagesLeaveOutTheURL(t *testing.T) {
	rc := newReceiver(t, http.StatusInternalServerError)
	err := NewSender(Options{Local: true}).Send(context.Background(), rc.URL+"/hook?token=t0ps3cret", "dlv_5", []byte(`{}`), "")
	if err == nil || strings.Contains(err.Error(), "t0ps3cret") || strings.Contains(sandstep.ErrorMessage(err), "t0ps3cret") {
		t.Errorf("error %v: want a failure that does not quote the URL's query", err)
	}
	rc.Close()
	err = NewSender(Options{Local: true}).Send(context.Background(), rc.URL+"/hook?token=t0ps3cret", "dlv_5", []byte(`{}`), "")
	if err == nil || strings.Contains(err.Error(), "t0ps3cret") {
		t.Errorf("error %v: want a failure that does not quote the URL's query", err)
	}
}

// countingListener is a TCP listener on loopback that counts the
// connections it accepts (and closes them): a refused dial never gets
// here.
func countingListener(t *testing.T, network, addr string) (port string, accepted *atomic.Int32) {
	t.Helper()
	ln, err := net.Listen(network, addr)
	if err != nil {
		t.Skipf("cannot listen on %s: %v", addr, err)
	}
	t.Cleanup(func() { ln.Close() })
	accepted = &atomic.Int32{}
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			accepted.Add(1)
			c.Close()
		}
	}()
	_, port, _ = net.SplitHostPort(ln.Addr().String())
	return port, accepted
}

// The SSRF rules, checked where it counts: on the address the dialer is
// about to connect to. Names resolve (through Lookup) to the address
// under test; the loopback cases listen there, so a dial that got through
// would be counted.
func TestSendRefusesWhatIsNotPublic(t *testing.T) {
	port4, accepted4 := countingListener(t, "tcp4", "127.0.0.1:0")
	port6, accepted6 := countingListener(t, "tcp6", "[::1]:0")
	tests := []struct {
		name     string
		host     string // in the URL
		resolves string // what Lookup answers for a name
		port     string
		accepted *atomic.Int32
	}{
		{"loopback", "127.0.0.1", "", port4, accepted4},
		{"IPv6 loopback", "[::1]", "", port6, accepted6},
		{"a name for 127.0.0.1", "receiver.example", "127.0.0.1", port4, accepted4},
		{"a name for ::1", "receiver.example", "::1", port6, accepted6},
		{"a name for ::ffff:127.0.0.1", "receiver.example", "::ffff:127.0.0.1", port4, accepted4},
		{"10.x", "10.1.2.3", "", "443", nil},
		{"a name for 10.x", "intranet.example", "10.1.2.3", "443", nil},
		{"metadata", "169.254.169.254", "", "443", nil},
		{"a name for the metadata", "instance-data.example", "169.254.169.254", "443", nil},
		{"ULA", "[fc00::1]", "", "443", nil},
		{"a name for fc00::", "ula.example", "fc00::7", "443", nil},
		{"a name for CGNAT", "cgnat.example", "100.64.0.1", "443", nil},
		{"a name for 0.0.0.0", "zero.example", "0.0.0.0", port4, accepted4},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before := int32(0)
			if tt.accepted != nil {
				before = tt.accepted.Load()
			}
			lookups := 0
			s := NewSender(Options{Timeout: 2 * time.Second, Lookup: func(_ context.Context, host string) ([]netip.Addr, error) {
				lookups++
				return []netip.Addr{netip.MustParseAddr(tt.resolves)}, nil
			}})
			err := s.Send(context.Background(), "https://"+tt.host+":"+tt.port+"/hook", "dlv_6", []byte(`{}`), "k")
			if sandstep.ErrorCode(err) != sandstep.EINVALID || !strings.Contains(err.Error(), "address") {
				t.Errorf("error %v, want the address refused (invalid_input)", err)
			}
			if tt.resolves != "" && lookups == 0 {
				t.Error("the name was never resolved: refused before the dial, not by it")
			}
			if tt.accepted != nil && tt.accepted.Load() != before {
				t.Error("a connection was made")
			}
		})
	}
	// The same dial with SANDSTEP_ENV=local reaches the loopback
	// listener: the cases above would see a connection if one were made.
	before := accepted4.Load()
	s := NewSender(Options{Local: true, Timeout: 2 * time.Second, Lookup: func(context.Context, string) ([]netip.Addr, error) {
		return []netip.Addr{netip.MustParseAddr("127.0.0.1")}, nil
	}})
	_ = s.Send(context.Background(), "https://receiver.example:"+port4+"/hook", "dlv_7", []byte(`{}`), "k")
	if accepted4.Load() == before {
		t.Error("local: no connection reached the listener; the refusals above prove nothing")
	}
}

// A name that resolves to a public address and then (rebinding) to a
// private one is refused on the second: every dial is checked.
func TestSendChecksEveryResolution(t *testing.T) {
	rc := newReceiver(t, http.StatusOK)
	_, port, _ := net.SplitHostPort(strings.TrimPrefix(rc.URL, "http://"))
	answers := []string{"127.0.0.1", "10.0.0.1"}
	var n atomic.Int32
	s := NewSender(Options{Local: true, Lookup: func(context.Context, string) ([]netip.Addr, error) {
		return []netip.Addr{netip.MustParseAddr(answers[min(int(n.Add(1)), len(answers))-1])}, nil
	}})
	url := "http://rebind.example:" + port + "/hook"
	if err := s.Send(context.Background(), url, "dlv_8", []byte(`{}`), ""); err != nil {
		t.Fatalf("first: %v", err)
	}
	rc.CloseClientConnections()
	s.client.CloseIdleConnections()
	if err := s.Send(context.Background(), url, "dlv_8", []byte(`{}`), ""); sandstep.ErrorCode(err) != sandstep.EINVALID {
		t.Errorf("second, resolved to 10.0.0.1: %v, want refused", err)
	}
	if d := rc.deliveries(); len(d) != 1 {
		t.Errorf("%d deliveries, want 1", len(d))
	}
}

func TestSendRefusesBadURLsBeforeDialing(t *testing.T) {
	dialed := false
	s := NewSender(Options{Lookup: func(context.Context, string) ([]netip.Addr, error) {
		dialed = true
		return nil, nil
	}})
	for _, u := range []string{"http://hooks.example.com/x", "https://u:p@hooks.example.com/x", "https://localhost/x"} {
		if err := s.Send(context.Background(), u, "dlv_9", []byte(`{}`), ""); sandstep.ErrorCode(err) != sandstep.EINVALID || sandstep.ErrorField(err) != "url" {
			t.Errorf("%s: %v, want invalid_input naming url", u, err)
		}
	}
	if dialed {
		t.Error("a refused URL was resolved")
	}
}
