// Package awslocal is a local stand-in for the AWS services sandstep uses
// besides DynamoDB: SSM Parameter Store and Secrets Manager (AWS JSON 1.1,
// told apart by X-Amz-Target) and S3 (path-style, by
// github.com/johannesboyne/gofakes3 on a bolt database file), all on one
// edge port as LocalStack serves them. The AWS SDKs and CLI reach it with
// their endpoint variables (AWS_ENDPOINT_URL_SSM, _SECRETS_MANAGER, _S3).
// Everything it holds lives under one directory and survives a restart.
// Requests are not authenticated: it is a development stand-in, bound to
// loopback.
package awslocal

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"time"
)

// Options configure a Server.
type Options struct {
	// Dir holds the server's state; it is created if missing.
	Dir string
	// Region and AccountID appear in ARNs.
	Region, AccountID string
	// Buckets are made at start when missing, as a template's would be.
	Buckets []string
	// Logger receives one line per failed request; nil discards.
	Logger *slog.Logger
	// Now is the clock; nil means time.Now.
	Now func() time.Time
}

// Server serves SSM, Secrets Manager and S3.
type Server struct {
	ssm  *parameterStore
	sm   *secretStore
	s3   http.Handler
	s3db io.Closer
	log  *slog.Logger
}

// New opens (or creates) the state under opts.Dir.
func New(opts Options) (*Server, error) {
	if opts.Dir == "" {
		return nil, errors.New("awslocal: Options.Dir is required")
	}
	if opts.Region == "" || opts.AccountID == "" {
		return nil, errors.New("awslocal: Options.Region and Options.AccountID are required")
	}
	if err := os.MkdirAll(opts.Dir, 0o700); err != nil {
		return nil, fmt.Errorf("awslocal: %w", err)
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	arn := arnMaker{region: opts.Region, account: opts.AccountID}
	ps, err := openParameters(filepath.Join(opts.Dir, "ssm.json"), arn, opts.Now)
	if err != nil {
		return nil, err
	}
	ss, err := openSecrets(filepath.Join(opts.Dir, "secretsmanager.json"), arn, opts.Now)
	if err != nil {
		return nil, err
	}
	s3, db, err := newS3(filepath.Join(opts.Dir, "s3.db"), filepath.Join(opts.Dir, "s3"), opts.Buckets, opts.Logger)
	if err != nil {
		return nil, err
	}
	return &Server{ssm: ps, sm: ss, s3: s3, s3db: db, log: opts.Logger}, nil
}

// Close closes the S3 store, which the server holds open (a second server
// on the same directory is refused until then). Calls after the first do
// nothing, as bolt's do.
func (s *Server) Close() error {
	return s.s3db.Close()
}

// ServeHTTP routes a request: AWS JSON 1.1 calls by their X-Amz-Target,
// everything else to S3.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	target := r.Header.Get("X-Amz-Target")
	switch {
	case strings.HasPrefix(target, "AmazonSSM."):
		s.serveJSON(w, r, strings.TrimPrefix(target, "AmazonSSM."), s.ssm.operations())
	case strings.HasPrefix(target, "secretsmanager."):
		s.serveJSON(w, r, strings.TrimPrefix(target, "secretsmanager."), s.sm.operations())
	default:
		s.s3.ServeHTTP(w, r)
	}
}

// arnMaker builds the ARNs of the local account.
type arnMaker struct{ region, account string }

func (a arnMaker) arn(service, resource string) string {
	return "arn:aws:" + service + ":" + a.region + ":" + a.account + ":" + resource
}

// PutSecureParameter sets an SSM SecureString parameter as PutParameter
// with Overwrite would, for what the stack itself keeps there (the demo
// GitHub App's key); a value already current adds no version.
func (s *Server) PutSecureParameter(name, value string) error {
	s.ssm.mu.Lock()
	p, missing := s.ssm.lookup(name, true)
	s.ssm.mu.Unlock()
	if missing == "" && p.Value == value && p.Type == "SecureString" {
		return nil
	}
	body, err := json.Marshal(map[string]any{"Name": name, "Value": value, "Type": "SecureString", "Overwrite": true})
	if err != nil {
		return err
	}
	_, err = s.ssm.put(body)
	return err
}
