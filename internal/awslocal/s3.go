package awslocal

import (
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"net/http"
	"os"
	"time"

	"github.com/johannesboyne/gofakes3"
	"github.com/johannesboyne/gofakes3/backend/s3afero"
	"github.com/johannesboyne/gofakes3/backend/s3bolt"
	"github.com/spf13/afero"
	bolt "go.etcd.io/bbolt"
)

// newS3 serves S3 (path-style) from buckets kept in the bolt database file,
// with buckets made if missing. Objects are keyed in the database, not
// named as files: any key S3 takes (up to 1,024 bytes) is kept. Objects an
// earlier version kept as files under oldDir are moved in first.
func newS3(file, oldDir string, buckets []string, log *slog.Logger) (http.Handler, *bolt.DB, error) {
	// A second stack on the same data directory is refused, not waited for.
	db, err := bolt.Open(file, 0o600, &bolt.Options{Timeout: 2 * time.Second})
	if err != nil {
		return nil, nil, fmt.Errorf("awslocal: s3 store %s: %w", file, err)
	}
	backend := s3bolt.New(db)
	fail := func(err error) (http.Handler, *bolt.DB, error) {
		_ = db.Close()
		return nil, nil, err
	}
	for _, b := range buckets {
		ok, err := backend.BucketExists(b)
		if err == nil && !ok {
			err = backend.CreateBucket(b)
		}
		if err != nil {
			return fail(fmt.Errorf("awslocal: bucket %s: %w", b, err))
		}
	}
	if err := moveFileObjects(oldDir, backend); err != nil {
		return fail(fmt.Errorf("awslocal: move the S3 objects under %s into %s: %w", oldDir, file, err))
	}
	return gofakes3.New(backend, gofakes3.WithLogger(s3Log{log})).Server(), db, nil
}

// moveFileObjects copies the objects an earlier version kept as files under
// dir into to, then renames dir (kept, as dir.moved), so it runs once.
func moveFileObjects(dir string, to gofakes3.Backend) error {
	if _, err := os.Stat(dir); errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	from, err := s3afero.MultiBucket(afero.NewBasePathFs(afero.NewOsFs(), dir))
	if err != nil {
		return err
	}
	buckets, err := from.ListBuckets()
	if err != nil {
		return err
	}
	for _, b := range buckets {
		if ok, err := to.BucketExists(b.Name); err != nil {
			return err
		} else if !ok {
			if err := to.CreateBucket(b.Name); err != nil {
				return err
			}
		}
		list, err := from.ListBucket(b.Name, nil, gofakes3.ListBucketPage{})
		if err != nil {
			return err
		}
		for _, c := range list.Contents {
			obj, err := from.GetObject(b.Name, c.Key, nil)
			if err != nil {
				return fmt.Errorf("%s/%s: %w", b.Name, c.Key, err)
			}
			_, err = to.PutObject(b.Name, c.Key, obj.Metadata, obj.Contents, obj.Size, nil)
			obj.Contents.Close()
			if err != nil {
				return fmt.Errorf("%s/%s: %w", b.Name, c.Key, err)
			}
		}
	}
	return os.Rename(dir, dir+".moved")
}

// s3Log passes gofakes3's error lines to the logger.
type s3Log struct{ log *slog.Logger }

func (l s3Log) Print(level gofakes3.LogLevel, v ...any) {
	if level == gofakes3.LogErr {
		l.log.Warn("s3: " + fmt.Sprint(v...))
	}
}
