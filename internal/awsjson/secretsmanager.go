package awsjson

import (
	"context"

	"github.com/aws/aws-sdk-go-v2/aws"
)

// SecretsManager reads Secrets Manager secrets.
type SecretsManager struct{ c *Client }

// NewSecretsManager returns a Secrets Manager client for cfg.
func NewSecretsManager(cfg aws.Config, opts Options) (*SecretsManager, error) {
	c, err := New(cfg, Service{EndpointPrefix: "secretsmanager", TargetPrefix: "secretsmanager", Version: "1.1"}, opts)
	if err != nil {
		return nil, err
	}
	return &SecretsManager{c}, nil
}

// GetSecretValue returns the current version of secret id (a name or
// ARN): its SecretString, or for a binary secret the bytes of its
// SecretBinary.
func (s *SecretsManager) GetSecretValue(ctx context.Context, id string) (string, error) {
	in := struct{ SecretId string }{id}
	var out struct {
		SecretString string
		SecretBinary []byte // base64 on the wire, decoded by encoding/json
	}
	if err := s.c.Call(ctx, "GetSecretValue", in, &out); err != nil {
		return "", err
	}
	if out.SecretString != "" {
		return out.SecretString, nil
	}
	return string(out.SecretBinary), nil
}
