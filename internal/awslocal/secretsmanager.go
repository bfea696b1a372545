package awslocal

import (
	"bytes"
	"crypto/rand"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/google/uuid"

	"github.com/sandstep/sandstep/internal/jsonproto"
)

// secretStore is Secrets Manager: named secrets whose versions carry the
// stages AWSCURRENT and AWSPREVIOUS, kept in one JSON file.
type secretStore struct {
	mu      sync.Mutex
	path    string
	arn     arnMaker
	now     func() time.Time
	secrets map[string]*secret // by name
}

type secret struct {
	Name, Description string
	// Suffix is the six characters AWS appends to the name in the ARN.
	Suffix   string
	Created  time.Time
	Versions []secretVersion // oldest first
}

type secretVersion struct {
	ID      string
	String  *string `json:",omitempty"`
	Binary  []byte  `json:",omitempty"`
	Stages  []string
	Created time.Time
}

const (
	stageCurrent  = "AWSCURRENT"
	stagePrevious = "AWSPREVIOUS"
)

func openSecrets(path string, arn arnMaker, now func() time.Time) (*secretStore, error) {
	ss := &secretStore{path: path, arn: arn, now: now, secrets: map[string]*secret{}}
	if err := loadJSON(path, &ss.secrets); err != nil {
		return nil, err
	}
	return ss, nil
}

func (ss *secretStore) operations() map[string]jsonproto.Operation {
	return map[string]jsonproto.Operation{
		"CreateSecret":   ss.create,
		"PutSecretValue": ss.putValue,
		"GetSecretValue": ss.getValue,
		"DeleteSecret":   ss.delete,
	}
}

func (ss *secretStore) arnOf(s *secret) string {
	return ss.arn.arn("secretsmanager", "secret:"+s.Name+"-"+s.Suffix)
}

// find resolves a SecretId: a name, a full ARN, or a partial one (the ARN
// without the six characters AWS appends), which AWS also accepts.
func (ss *secretStore) find(id string) (*secret, error) {
	if s, ok := ss.secrets[id]; ok {
		return s, nil
	}
	for _, s := range ss.secrets {
		if full := ss.arnOf(s); full == id || full[:len(full)-len("-")-len(s.Suffix)] == id {
			return s, nil
		}
	}
	return nil, jsonproto.ClientError("ResourceNotFoundException", "Secrets Manager can't find the specified secret.")
}

// secretValueInput is what CreateSecret and PutSecretValue share.
type secretValueInput struct {
	ClientRequestToken string
	SecretString       *string
	SecretBinary       []byte
}

func (in secretValueInput) version(now time.Time) (secretVersion, error) {
	if (in.SecretString == nil) == (in.SecretBinary == nil) {
		return secretVersion{}, jsonproto.ClientError("InvalidParameterException", "You must provide either SecretString or SecretBinary.")
	}
	id := in.ClientRequestToken
	if id == "" {
		id = uuid.NewString()
	}
	return secretVersion{ID: id, String: in.SecretString, Binary: in.SecretBinary, Stages: []string{stageCurrent}, Created: now}, nil
}

func (ss *secretStore) create(body []byte) (any, error) {
	var in struct {
		secretValueInput
		Name, Description, KmsKeyId string
		Tags                        []struct{ Key, Value string }
		ForceOverwriteReplicaSecret bool
		AddReplicaRegions           []struct{ Region, KmsKeyId string }
	}
	if err := decode(body, &in); err != nil {
		return nil, err
	}
	if in.Name == "" || len(in.Name) > 512 || strings.ContainsAny(in.Name, " \t\r\n") {
		return nil, jsonproto.ClientError("ValidationException", "Name must be 1 to 512 characters without white space")
	}
	now := ss.now().UTC()
	v, err := in.version(now)
	if err != nil {
		return nil, err
	}
	ss.mu.Lock()
	defer ss.mu.Unlock()
	if _, exists := ss.secrets[in.Name]; exists {
		return nil, jsonproto.ClientError("ResourceExistsException", "The operation failed because the secret %s already exists.", in.Name)
	}
	s := &secret{Name: in.Name, Description: in.Description, Suffix: randomSuffix(), Created: now, Versions: []secretVersion{v}}
	ss.secrets[in.Name] = s
	if err := saveJSON(ss.path, ss.secrets); err != nil {
		delete(ss.secrets, in.Name)
		return nil, fmt.Errorf("save: %w", err)
	}
	return map[string]any{"ARN": ss.arnOf(s), "Name": s.Name, "VersionId": v.ID}, nil
}

func (ss *secretStore) putValue(body []byte) (any, error) {
	var in struct {
		secretValueInput
		SecretId      string
		VersionStages []string
	}
	if err := decode(body, &in); err != nil {
		return nil, err
	}
	v, err := in.version(ss.now().UTC())
	if err != nil {
		return nil, err
	}
	ss.mu.Lock()
	defer ss.mu.Unlock()
	s, err := ss.find(in.SecretId)
	if err != nil {
		return nil, err
	}
	// A token names its version: a retry with it changes nothing, and it
	// cannot name another value (the SDKs retry with the same token).
	if i := slices.IndexFunc(s.Versions, func(old secretVersion) bool { return old.ID == v.ID }); i >= 0 {
		old := s.Versions[i]
		if !sameValue(old, v) {
			return nil, jsonproto.ClientError("ResourceExistsException", "You can't modify an existing version, you can only create a new version.")
		}
		return map[string]any{"ARN": ss.arnOf(s), "Name": s.Name, "VersionId": old.ID, "VersionStages": old.Stages}, nil
	}
	before := slices.Clone(s.Versions)
	for i := range s.Versions {
		old := &s.Versions[i]
		old.Stages = slices.DeleteFunc(old.Stages, func(st string) bool { return st == stagePrevious })
		if slices.Contains(old.Stages, stageCurrent) {
			old.Stages = []string{stagePrevious}
		}
	}
	s.Versions = append(s.Versions, v)
	if err := saveJSON(ss.path, ss.secrets); err != nil {
		s.Versions = before
		return nil, fmt.Errorf("save: %w", err)
	}
	return map[string]any{"ARN": ss.arnOf(s), "Name": s.Name, "VersionId": v.ID, "VersionStages": v.Stages}, nil
}

// sameValue reports whether two versions hold the same secret value.
func sameValue(a, b secretVersion) bool {
	return (a.String == nil) == (b.String == nil) && (a.String == nil || *a.String == *b.String) && bytes.Equal(a.Binary, b.Binary)
}

func (ss *secretStore) getValue(body []byte) (any, error) {
	var in struct{ SecretId, VersionId, VersionStage string }
	if err := decode(body, &in); err != nil {
		return nil, err
	}
	if in.VersionId == "" && in.VersionStage == "" {
		in.VersionStage = stageCurrent
	}
	ss.mu.Lock()
	defer ss.mu.Unlock()
	s, err := ss.find(in.SecretId)
	if err != nil {
		return nil, err
	}
	for _, v := range s.Versions {
		if (in.VersionId == "" || v.ID == in.VersionId) && (in.VersionStage == "" || slices.Contains(v.Stages, in.VersionStage)) {
			out := map[string]any{"ARN": ss.arnOf(s), "Name": s.Name, "VersionId": v.ID, "VersionStages": v.Stages, "CreatedDate": epochOf(v.Created)}
			if v.String != nil {
				out["SecretString"] = *v.String
			} else {
				out["SecretBinary"] = v.Binary
			}
			return out, nil
		}
	}
	return nil, jsonproto.ClientError("ResourceNotFoundException", "Secrets Manager can't find the specified secret value for VersionId: %s, VersionStage: %s", in.VersionId, in.VersionStage)
}

func (ss *secretStore) delete(body []byte) (any, error) {
	var in struct {
		SecretId                   string
		RecoveryWindowInDays       int64
		ForceDeleteWithoutRecovery bool
	}
	if err := decode(body, &in); err != nil {
		return nil, err
	}
	ss.mu.Lock()
	defer ss.mu.Unlock()
	s, err := ss.find(in.SecretId)
	if err != nil {
		return nil, err
	}
	// Locally a deleted secret is gone at once, recovery window or not.
	delete(ss.secrets, s.Name)
	if err := saveJSON(ss.path, ss.secrets); err != nil {
		ss.secrets[s.Name] = s
		return nil, fmt.Errorf("save: %w", err)
	}
	return map[string]any{"ARN": ss.arnOf(s), "Name": s.Name, "DeletionDate": epochOf(ss.now())}, nil
}

// randomSuffix is the six random characters AWS appends to a secret's ARN.
func randomSuffix() string {
	const alphabet = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"
	b := make([]byte, 6)
	rand.Read(b) // never fails (Go 1.24+)
	for i := range b {
		b[i] = alphabet[int(b[i])%len(alphabet)]
	}
	return string(b)
}
