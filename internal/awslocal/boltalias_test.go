package awslocal_test

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
)

// A GET's body is the object as it was when the GET was answered,
// whatever is written to the bucket while a slow reader (a sandbox's
// download of an artifact, a reader of a task's log) takes it in.
func TestAGetIsNotChangedByWritesWhileItIsRead(t *testing.T) {
	const size = 32 << 20
	tests := []struct {
		name   string
		writes func(ctx context.Context, c *s3.Client) error
	}{
		{"the same key written again", func(ctx context.Context, c *s3.Client) error {
			for _, b := range []byte("BC") {
				if _, err := c.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String("tasks"), Key: aws.String("big"),
					Body: bytes.NewReader(bytes.Repeat([]byte{b}, size))}); err != nil {
					return err
				}
			}
			return nil
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx := context.Background()
			c := start(t, t.TempDir(), "tasks")
			want := bytes.Repeat([]byte{'A'}, size)
			if _, err := c.s3.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String("tasks"), Key: aws.String("big"), Body: bytes.NewReader(want)}); err != nil {
				t.Fatal(err)
			}
			res, err := http.Get(c.url + "/tasks/big")
			if err != nil {
				t.Fatal(err)
			}
			defer res.Body.Close()
			head := make([]byte, 64<<10)
			if _, err := io.ReadFull(res.Body, head); err != nil {
				t.Fatal(err)
			}
			if err := tt.writes(ctx, c.s3); err != nil {
				t.Fatal(err)
			}
			rest, err := io.ReadAll(res.Body)
			if err != nil {
				t.Fatal(err)
			}
			got := append(head, rest...)
			if !bytes.Equal(got, want) {
				i := 0
				for i < len(got) && i < len(want) && got[i] == want[i] {
					i++
				}
				t.Errorf("the GET's body (%d bytes) differs from the object it answered from byte %d on: %q…, want all 'A'", len(got), i, got[i:min(i+16, len(got))])
			}
		})
	}
}
