package awsjson

import (
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"strings"
)

// APIError is an error answer of the service.
type APIError struct {
	// Code is the error's shape name (ParameterNotFound,
	// ThrottlingException), or "" when the answer named none (a proxy's
	// 502, say).
	Code       string
	Message    string
	StatusCode int
	// Body is the answer's body, for the services whose errors carry more
	// than a message (DynamoDB's refused item). Error does not print it.
	Body []byte
	// EarlierTryMayHaveApplied: a try before this answer got a 5xx or no
	// answer, so the call may have been applied then, and this answer
	// (a refused condition) may be about its own earlier effect.
	EarlierTryMayHaveApplied bool
}

func (e *APIError) Error() string {
	code := e.Code
	if code == "" {
		code = "error"
	}
	if e.Message == "" {
		return fmt.Sprintf("%s (HTTP %d)", code, e.StatusCode)
	}
	return fmt.Sprintf("%s (HTTP %d): %s", code, e.StatusCode, e.Message)
}

// retryCodes are the error codes of a throttled or briefly failing call,
// whatever their status: the AWS SDKs' throttling and transient codes.
// TransactionInProgressException is DynamoDB's answer to a retried
// transaction (same token) whose first try still runs: trying again later
// gets the first try's outcome.
var retryCodes = []string{
	"Throttling", "ThrottlingException", "ThrottledException", "TooManyRequestsException",
	"RequestLimitExceeded", "RequestThrottled", "RequestThrottledException",
	"ProvisionedThroughputExceededException", "TransactionInProgressException",
	"LimitExceededException", "EC2ThrottledException", "BandwidthLimitExceeded", "SlowDown",
	"PriorRequestNotComplete", "RequestTimeout", "RequestTimeoutException",
	"InternalServerError", "InternalServiceError", "InternalFailure", "ServiceUnavailable",
}

// Retryable reports whether the same call may succeed later: the service
// throttled it or failed on its side (429, 5xx).
func (e *APIError) Retryable() bool {
	return e.StatusCode == http.StatusTooManyRequests || e.StatusCode >= 500 || slices.Contains(retryCodes, e.Code)
}

// parseError reads an error answer: {"__type": "...", "message": "..."}.
// The code may come qualified (com.amazonaws.ssm#ParameterNotFound) or
// with a suffix (ThrottlingException:http://...); both are cut. A body
// that is not JSON (a load balancer's page) leaves Code and Message empty.
func parseError(resp *http.Response, body []byte) *APIError {
	var e struct {
		Type         string `json:"__type"`
		Code         string `json:"code"`
		Message      string `json:"message"`
		MessageTitle string `json:"Message"`
	}
	_ = json.Unmarshal(body, &e)
	code := e.Type
	if code == "" {
		code = e.Code
	}
	if code == "" {
		code = resp.Header.Get("X-Amzn-ErrorType")
	}
	if i := strings.LastIndexByte(code, '#'); i >= 0 {
		code = code[i+1:]
	}
	if i := strings.IndexByte(code, ':'); i >= 0 {
		code = code[:i]
	}
	msg := e.Message
	if msg == "" {
		msg = e.MessageTitle
	}
	return &APIError{Code: strings.TrimSpace(code), Message: msg, StatusCode: resp.StatusCode, Body: body}
}
