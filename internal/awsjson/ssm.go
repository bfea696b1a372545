package awsjson

import (
	"context"

	"github.com/aws/aws-sdk-go-v2/aws"
)

// SSM reads SSM Parameter Store parameters.
type SSM struct{ c *Client }

// NewSSM returns an SSM client for cfg.
func NewSSM(cfg aws.Config, opts Options) (*SSM, error) {
	c, err := New(cfg, Service{EndpointPrefix: "ssm", TargetPrefix: "AmazonSSM", Version: "1.1"}, opts)
	if err != nil {
		return nil, err
	}
	return &SSM{c}, nil
}

// GetParameter returns the value of parameter name (a name or ARN, with
// an optional :version or :label selector), decrypted if decrypt is set
// and it is a SecureString.
func (s *SSM) GetParameter(ctx context.Context, name string, decrypt bool) (string, error) {
	in := struct {
		Name           string
		WithDecryption bool
	}{name, decrypt}
	var out struct{ Parameter struct{ Value string } }
	if err := s.c.Call(ctx, "GetParameter", in, &out); err != nil {
		return "", err
	}
	return out.Parameter.Value, nil
}
