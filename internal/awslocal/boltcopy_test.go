package awslocal_test

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
)

// A copy that grows the store survives its own write: s3bolt's copy
// formats the ETag from the source's hash, a slice into bolt's map, after
// its write may have remapped it. The copies run in a child process, so a
// fault is reported, not the test binary killed.
func TestCopyObjectSurvivesItsOwnWrite(t *testing.T) {
	tests := []struct {
		name   string
		size   int
		copies int
	}{
		{"1 MiB copied to 16 keys (the store grows past the map)", 1 << 20, 16},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if os.Getenv("AWSLOCAL_COPY_CHILD") == fmt.Sprint(i) {
				ctx := context.Background()
				c := start(t, t.TempDir(), "tasks")
				if _, err := c.s3.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String("tasks"), Key: aws.String("src"),
					Body: bytes.NewReader(bytes.Repeat([]byte("x"), tt.size))}); err != nil {
					t.Fatal(err)
				}
				for k := 0; k < tt.copies; k++ {
					if _, err := c.s3.CopyObject(ctx, &s3.CopyObjectInput{Bucket: aws.String("tasks"), Key: aws.String(fmt.Sprintf("dst-%d", k)),
						CopySource: aws.String("tasks/src")}); err != nil {
						t.Fatalf("copy %d: %v", k, err)
					}
				}
				return
			}
			cmd := exec.Command(os.Args[0], "-test.run=^TestCopyObjectSurvivesItsOwnWrite$", "-test.count=1")
			cmd.Env = append(os.Environ(), "AWSLOCAL_COPY_CHILD="+fmt.Sprint(i))
			out, err := cmd.CombinedOutput()
			if err != nil {
				if len(out) > 1500 {
					out = out[:1500]
				}
				t.Errorf("the copies failed (%v):\n%s", err, out)
			}
		})
	}
}
