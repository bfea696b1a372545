package daytona

import (
	"context"
	"net"
	"net/http"
	"net/url"
	"sync/atomic"
	"testing"
)

// A create whose connection to a proxy was refused (the client takes its
// proxy from the environment) never reached Daytona: a 409 for its name
// after it is another sandbox's, not adopted.
func TestCreateAfterARefusedProxyDoesNotAdoptAForeignSandbox(t *testing.T) {
	d := newDaytonaFake(t)
	d.byName["ss-1"] = sandboxJSON("id-old", "ss-1", StateStarted, "")
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	dead := &url.URL{Scheme: "http", Host: l.Addr().String()}
	l.Close() // nothing listens there: the dial to the proxy is refused
	var n atomic.Int32
	hc := &http.Client{Transport: &http.Transport{
		Proxy: func(*http.Request) (*url.URL, error) {
			if n.Add(1) == 1 {
				return dead, nil // the first request goes through a proxy that is down
			}
			return nil, nil
		},
	}}
	c := newClient(t, d.URL, func(cfg *Config) { cfg.HTTPClient = hc })
	c.sleep = (&fakeSleep{}).sleep
	sb, err := c.CreateSandbox(context.Background(), CreateSandboxParams{Name: "ss-1"})
	if sb != nil {
		t.Fatalf("CreateSandbox = %s, %v; the create never left this host (proxy refused the connection), so the name is another sandbox's and must not be adopted", sb.ID, err)
	}
	if err == nil {
		t.Fatal("no error")
	}
}
