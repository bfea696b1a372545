package awslocal

import (
	"fmt"
	"log/slog"
	"net/http"
	"os"

	"github.com/johannesboyne/gofakes3"
	"github.com/johannesboyne/gofakes3/backend/s3afero"
	"github.com/spf13/afero"
)

// newS3 serves S3 (path-style) from buckets kept as files under dir, with
// buckets made if missing.
func newS3(dir string, buckets []string, log *slog.Logger) (http.Handler, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("awslocal: %w", err)
	}
	backend, err := s3afero.MultiBucket(afero.NewBasePathFs(afero.NewOsFs(), dir))
	if err != nil {
		return nil, fmt.Errorf("awslocal: s3 backend: %w", err)
	}
	for _, b := range buckets {
		ok, err := backend.BucketExists(b)
		if err == nil && !ok {
			err = backend.CreateBucket(b)
		}
		if err != nil {
			return nil, fmt.Errorf("awslocal: bucket %s: %w", b, err)
		}
	}
	return gofakes3.New(backend, gofakes3.WithLogger(s3Log{log})).Server(), nil
}

// s3Log passes gofakes3's error lines to the logger.
type s3Log struct{ log *slog.Logger }

func (l s3Log) Print(level gofakes3.LogLevel, v ...any) {
	if level == gofakes3.LogErr {
		l.log.Warn("s3: " + fmt.Sprint(v...))
	}
}
