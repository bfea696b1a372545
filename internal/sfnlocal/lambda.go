package sfnlocal

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
)

// lambdaClient calls the Lambda Invoke API, unsigned: the local one does not
// check signatures.
type lambdaClient struct {
	endpoint string
	http     *http.Client
}

// invocation is what an Invoke answered.
type invocation struct {
	Status        int
	FunctionError string
	RequestID     string
	Version       string
	Headers       http.Header
	Payload       []byte
}

func (c *lambdaClient) invoke(ctx context.Context, function, qualifier, invocationType string, payload []byte) (*invocation, error) {
	u := strings.TrimRight(c.endpoint, "/") + "/2015-03-31/functions/" + url.PathEscape(function) + "/invocations"
	if qualifier != "" {
		u += "?Qualifier=" + url.QueryEscape(qualifier)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, u, bytes.NewReader(payload))
	if err != nil {
		return nil, fmt.Errorf("invoking %s: %w", function, err)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("X-Amz-Invocation-Type", invocationType)
	res, err := c.http.Do(req)
	if err != nil {
		return nil, fmt.Errorf("invoking %s: %w", function, err)
	}
	defer res.Body.Close()
	body, err := io.ReadAll(res.Body)
	if err != nil {
		return nil, fmt.Errorf("invoking %s: reading the answer: %w", function, err)
	}
	return &invocation{
		Status:        res.StatusCode,
		FunctionError: res.Header.Get("X-Amz-Function-Error"),
		RequestID:     res.Header.Get("X-Amzn-RequestId"),
		Version:       res.Header.Get("X-Amz-Executed-Version"),
		Headers:       res.Header,
		Payload:       body,
	}, nil
}

// outcome is how a Task call ended.
type outcome struct {
	Output  string // JSON, when it succeeded
	Error   *string
	Cause   *string
	Timeout bool // Error is States.Timeout or States.HeartbeatTimeout
}

func succeeded(output string) outcome { return outcome{Output: output} }

func failed(errName, cause string) outcome { return outcome{Error: &errName, Cause: &cause} }

// invokeOutcome is an Invoke as a Task's result: the function's output, its
// error (named by errorType, the whole error payload as cause, as AWS has
// it), or the Invoke API's own error as Lambda.<ErrorType>.
func invokeOutcome(inv *invocation, err error, wrap bool) outcome {
	if err != nil {
		return failed("Lambda.SdkClientException", err.Error())
	}
	switch {
	case inv.Status >= 300:
		typ := inv.Headers.Get("X-Amzn-ErrorType")
		var body struct {
			Type    string `json:"__type"`
			Message string `json:"message"`
		}
		_ = json.Unmarshal(inv.Payload, &body)
		if typ == "" {
			typ = body.Type
		}
		if typ == "" {
			typ = "ServiceException"
		}
		typ, _, _ = strings.Cut(typ, ":")
		return failed("Lambda."+typ, string(inv.Payload))
	case inv.FunctionError != "":
		var fe struct {
			ErrorType string `json:"errorType"`
		}
		_ = json.Unmarshal(inv.Payload, &fe)
		if fe.ErrorType == "" {
			fe.ErrorType = "Lambda.Unknown"
		}
		return failed(fe.ErrorType, string(inv.Payload))
	}
	payload := string(bytes.TrimSpace(inv.Payload))
	if payload == "" || !json.Valid([]byte(payload)) {
		payload = "null"
		if len(inv.Payload) > 0 {
			b, _ := json.Marshal(string(inv.Payload))
			payload = string(b)
		}
	}
	if !wrap {
		return succeeded(payload)
	}
	// lambda:invoke's output, as AWS shapes it.
	headers := map[string]string{}
	all := map[string][]string{}
	for k, v := range inv.Headers {
		headers[k] = strings.Join(v, ",")
		all[k] = v
	}
	version := inv.Version
	if version == "" {
		version = "$LATEST"
	}
	out := map[string]any{
		"ExecutedVersion": version,
		"Payload":         json.RawMessage(payload),
		"SdkHttpMetadata": map[string]any{
			"AllHttpHeaders": all,
			"HttpHeaders":    headers,
			"HttpStatusCode": inv.Status,
		},
		"SdkResponseMetadata": map[string]any{"RequestId": inv.RequestID},
		"StatusCode":          inv.Status,
	}
	if inv.Status == http.StatusAccepted {
		out["Payload"] = ""
	}
	b, _ := json.Marshal(out)
	return succeeded(string(b))
}
