package awslocal

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"maps"
	"net/http"
	"os"
	"strings"
	"sync"
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
func newS3(file, oldDir string, buckets []string, log *slog.Logger) (http.Handler, io.Closer, error) {
	// A second stack on the same data directory is refused, not waited for.
	db, err := bolt.Open(file, 0o600, &bolt.Options{Timeout: 2 * time.Second})
	if err != nil {
		return nil, nil, fmt.Errorf("awslocal: s3 store %s: %w", file, err)
	}
	backend := &boltBackend{Backend: s3bolt.New(db), db: db}
	fail := func(err error) (http.Handler, io.Closer, error) {
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
	return gofakes3.New(backend, gofakes3.WithLogger(s3Log{log})).Server(), backend, nil
}

// boltBackend is s3bolt's backend made safe to read while written: s3bolt
// answers an object with its bytes still in bolt's memory map, which a
// later write's remap (or Close) takes away while they are being sent.
// Reads copy them out before any write may run; writes and Close wait for
// those copies.
type boltBackend struct {
	*s3bolt.Backend
	db *bolt.DB
	mu sync.RWMutex
}

func (b *boltBackend) GetObject(bucket, key string, rng *gofakes3.ObjectRangeRequest) (*gofakes3.Object, error) {
	b.mu.RLock()
	defer b.mu.RUnlock()
	obj, err := copied(b.Backend.GetObject(bucket, key, rng))
	if err == nil && rng != nil {
		// The checksum a PUT sent is the whole object's: S3 answers none
		// for a range, and the SDKs and CLI would check a part against it.
		maps.DeleteFunc(obj.Metadata, func(k, _ string) bool {
			return strings.HasPrefix(http.CanonicalHeaderKey(k), "X-Amz-Checksum-")
		})
	}
	return obj, err
}

func (b *boltBackend) HeadObject(bucket, key string) (*gofakes3.Object, error) {
	b.mu.RLock()
	defer b.mu.RUnlock()
	return copied(b.Backend.HeadObject(bucket, key))
}

// copied is obj with its contents and hash in memory of its own.
func copied(obj *gofakes3.Object, err error) (*gofakes3.Object, error) {
	if err != nil {
		return nil, err
	}
	data, err := io.ReadAll(obj.Contents)
	obj.Contents.Close()
	if err != nil {
		return nil, err
	}
	obj.Contents = io.NopCloser(bytes.NewReader(data))
	obj.Hash = bytes.Clone(obj.Hash)
	obj.Metadata = maps.Clone(obj.Metadata)
	return obj, nil
}

func (b *boltBackend) CreateBucket(name string) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.Backend.CreateBucket(name)
}

func (b *boltBackend) DeleteBucket(name string) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.Backend.DeleteBucket(name)
}

func (b *boltBackend) ForceDeleteBucket(name string) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.Backend.ForceDeleteBucket(name)
}

func (b *boltBackend) PutObject(bucket, key string, meta map[string]string, input io.Reader, size int64, cond *gofakes3.PutConditions) (gofakes3.PutObjectResult, error) {
	// Read before the lock: a slow upload holds no read up.
	data, err := gofakes3.ReadAll(input, size)
	if err != nil {
		return gofakes3.PutObjectResult{}, err
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.Backend.PutObject(bucket, key, meta, bytes.NewReader(data), size, cond)
}

func (b *boltBackend) DeleteObject(bucket, key string) (gofakes3.ObjectDeleteResult, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.Backend.DeleteObject(bucket, key)
}

func (b *boltBackend) DeleteMulti(bucket string, keys ...string) (gofakes3.MultiDeleteResult, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.Backend.DeleteMulti(bucket, keys...)
}

// CopyObject reads and writes through b: s3bolt's own copy reads the
// source's hash from the map after its write has remapped it.
func (b *boltBackend) CopyObject(srcBucket, srcKey, dstBucket, dstKey string, meta map[string]string) (gofakes3.CopyObjectResult, error) {
	return gofakes3.CopyObject(b, srcBucket, srcKey, dstBucket, dstKey, meta)
}

// Close closes the database once no read is copying out of it.
func (b *boltBackend) Close() error {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.db.Close()
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
