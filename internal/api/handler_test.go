package api

import (
	"context"
	"fmt"
	"testing"
)

// An answer stays as it was after later invokes of the same handler: the
// local stack reads each answer while other invokes of the function run.
func TestHandlerAnswersStayTheirOwn(t *testing.T) {
	h := quietAPI(&fakeService{}).Handler(FunctionStatus)
	var answers [][]byte
	var want []string
	for i := range 3 {
		// No such route: a 404 whose body names the request.
		ev := fmt.Sprintf(`{"version":"2.0","routeKey":"$default","rawPath":"/nothing","requestContext":{"requestId":"request-%d","http":{"method":"GET","path":"/nothing"}}}`, i)
		out, err := h.Invoke(context.Background(), []byte(ev))
		if err != nil {
			t.Fatalf("Invoke: %v", err)
		}
		answers, want = append(answers, out), append(want, string(out))
	}
	for i, out := range answers {
		if string(out) != want[i] {
			t.Errorf("answer %d changed after later invokes:\n%s\nwas\n%s", i, out, want[i])
		}
	}
}
