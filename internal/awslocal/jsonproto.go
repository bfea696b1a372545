package awslocal

import (
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"time"

	"github.com/sandstep/sandstep/internal/atomicfile"
	"github.com/sandstep/sandstep/internal/jsonproto"
)

// serveJSON runs the operation named by the X-Amz-Target suffix.
func (s *Server) serveJSON(w http.ResponseWriter, r *http.Request, name string, ops map[string]jsonproto.Operation) {
	if err := jsonproto.Serve(w, r, "1.1", name, ops); err != nil {
		s.log.Warn("aws request failed", "target", r.Header.Get("X-Amz-Target"), "err", err)
	}
}

// decode reads an operation's input, refusing unknown members as the
// services do.
func decode(body []byte, v any) error { return jsonproto.Decode(body, v, true) }

// epoch is a timestamp as AWS JSON 1.1 writes it: seconds since the epoch.
type epoch float64

func epochOf(t time.Time) epoch { return epoch(float64(t.UnixNano()) / 1e9) }

// saveJSON writes v to path; a crash leaves the old file or the new one.
func saveJSON(path string, v any) error {
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return err
	}
	return atomicfile.Write(path, b)
}

// loadJSON reads path into v; a missing file leaves v as it is.
func loadJSON(path string, v any) error {
	b, err := os.ReadFile(path)
	if os.IsNotExist(err) {
		return nil
	}
	if err != nil {
		return err
	}
	if err := json.Unmarshal(b, v); err != nil {
		return fmt.Errorf("awslocal: %s is damaged: %w", path, err)
	}
	return nil
}
