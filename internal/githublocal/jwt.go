package githublocal

import (
	"bytes"
	"crypto"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/sandstep/sandstep/internal/appjwt"
)

// GitHub's limits on an App's JWT: it may expire at most 10 minutes from
// now, and since GitHub checks against its own clock, a client's clock a
// little ahead is tolerated (GitHub advises backdating iat by 60 s for
// the opposite case).
const (
	MaxJWTLifetime = 10 * time.Minute
	ClockDrift     = 30 * time.Second
)

// GenerateAppKey makes an App's key pair as GitHub does (RSA 2048) and
// returns the private key in the PEM form GitHub lets an App owner
// download (PKCS#1, "RSA PRIVATE KEY"), for the client side, and the
// public key for AddApp.
func GenerateAppKey() (privatePEM []byte, public *rsa.PublicKey, err error) {
	k, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		return nil, nil, fmt.Errorf("githublocal: generate an App key: %w", err)
	}
	b := pem.EncodeToMemory(&pem.Block{Type: "RSA PRIVATE KEY", Bytes: x509.MarshalPKCS1PrivateKey(k)})
	return b, &k.PublicKey, nil
}

// AppJWT signs the JWT an App authenticates with (appjwt.ForApp), for
// tests that call the App endpoints without a GitHub client library.
func AppJWT(privatePEM []byte, appID int64, now time.Time) (string, error) {
	k, err := appjwt.ParseKey(privatePEM)
	if err != nil {
		return "", fmt.Errorf("githublocal: the App key: %w", err)
	}
	return appjwt.ForApp(k, appID, now)
}

func encodePublicKey(k *rsa.PublicKey) (string, error) {
	b, err := x509.MarshalPKIXPublicKey(k)
	if err != nil {
		return "", err
	}
	return string(pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: b})), nil
}

func decodePublicKey(s string) (*rsa.PublicKey, error) {
	block, _ := pem.Decode([]byte(s))
	if block == nil {
		return nil, errors.New("not PEM")
	}
	k, err := x509.ParsePKIXPublicKey(block.Bytes)
	if err != nil {
		return nil, err
	}
	rk, ok := k.(*rsa.PublicKey)
	if !ok {
		return nil, errors.New("not an RSA key")
	}
	return rk, nil
}

// jwtError is a 401 of the App endpoints.
func jwtError(msg string) *apiError {
	return &apiError{status: http.StatusUnauthorized, message: msg, docs: docsREST}
}

// authApp authenticates a request as an App: Authorization: Bearer <JWT>,
// RS256-signed by the key of the App its iss names (the App id, or its
// client id), with integer iat and exp, exp in the future and at most
// MaxJWTLifetime away, iat not in the future (ClockDrift aside).
func (s *Server) authApp(r *http.Request) (*appRecord, *apiError) {
	scheme, raw, _ := strings.Cut(r.Header.Get("Authorization"), " ")
	if !strings.EqualFold(scheme, "bearer") || raw == "" {
		return nil, jwtError("A JSON web token could not be decoded")
	}
	parts := strings.Split(raw, ".")
	if len(parts) != 3 {
		return nil, jwtError("A JSON web token could not be decoded")
	}
	var header struct {
		Alg string `json:"alg"`
	}
	var claims struct {
		Iss json.RawMessage `json:"iss"`
		Iat json.RawMessage `json:"iat"`
		Exp json.RawMessage `json:"exp"`
	}
	hb, err1 := base64.RawURLEncoding.DecodeString(parts[0])
	cb, err2 := base64.RawURLEncoding.DecodeString(parts[1])
	sig, err3 := base64.RawURLEncoding.DecodeString(parts[2])
	if err := errors.Join(err1, err2, err3); err != nil || json.Unmarshal(hb, &header) != nil || json.Unmarshal(cb, &claims) != nil {
		return nil, jwtError("A JSON web token could not be decoded")
	}
	if header.Alg != "RS256" {
		return nil, jwtError("A JSON web token could not be decoded: the algorithm must be RS256")
	}

	s.mu.Lock()
	app := s.st.appByIssuer(claims.Iss)
	s.mu.Unlock()
	if app == nil {
		return nil, jwtError("'Issuer' claim ('iss') must be a GitHub App's id or client id")
	}
	pub, err := decodePublicKey(app.PublicKeyPEM)
	if err != nil {
		return nil, &apiError{status: http.StatusInternalServerError, message: "the App's public key is damaged", docs: docsREST}
	}
	sum := sha256.Sum256([]byte(parts[0] + "." + parts[1]))
	if rsa.VerifyPKCS1v15(pub, crypto.SHA256, sum[:], sig) != nil {
		return nil, jwtError("A JSON web token could not be decoded: the signature does not match the App's public key")
	}

	iat, okIat := integerClaim(claims.Iat)
	exp, okExp := integerClaim(claims.Exp)
	now := s.now()
	switch {
	case !okIat:
		return nil, jwtError("'Issued at' claim ('iat') must be an Integer representing the time that the assertion was issued")
	case !okExp:
		return nil, jwtError("'Expiration time' claim ('exp') must be a numeric value representing the future time at which the assertion expires")
	case time.Unix(iat, 0).After(now.Add(ClockDrift)):
		return nil, jwtError("'Issued at' claim ('iat') must be an Integer representing a time in the past")
	case !time.Unix(exp, 0).After(now):
		return nil, jwtError("'Expiration time' claim ('exp') must be a numeric value representing the future time at which the assertion expires")
	case exp <= iat:
		return nil, jwtError("'Expiration time' claim ('exp') must be after 'Issued at' claim ('iat')")
	case time.Unix(exp, 0).After(now.Add(MaxJWTLifetime + ClockDrift)):
		return nil, jwtError("'Expiration time' claim ('exp') is too far in the future")
	}
	return app, nil
}

// integerClaim reads a JSON integer; GitHub refuses fractions and strings.
func integerClaim(raw json.RawMessage) (int64, bool) {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 || bytes.ContainsAny(raw, `".eE`) {
		return 0, false
	}
	n, err := strconv.ParseInt(string(raw), 10, 64)
	return n, err == nil
}

// appByIssuer finds the App an iss claim names: its id as a number or a
// string of digits, or its client id.
func (st *state) appByIssuer(raw json.RawMessage) *appRecord {
	var v any
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	if dec.Decode(&v) != nil {
		return nil
	}
	var s string
	switch x := v.(type) {
	case json.Number:
		s = x.String()
	case string:
		s = x
	default:
		return nil
	}
	if id, err := strconv.ParseInt(s, 10, 64); err == nil {
		return st.Apps[id]
	}
	for _, a := range st.Apps {
		if a.ClientID != "" && a.ClientID == s {
			return a
		}
	}
	return nil
}
