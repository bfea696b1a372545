package sandstep

import "errors"

// ErrSecretScope is the cause of an EINVALID error refusing a secret
// reference its caller may not name. internal/secrets decides; the service
// recognises the refusal with errors.Is and logs it as a denied attempt.
var ErrSecretScope = errors.New("secret reference outside the caller's scope")
