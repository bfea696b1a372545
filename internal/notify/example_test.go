package notify_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"

	"github.com/sandstep/sandstep/internal/notify"
)

// A receiver checks the signature over the raw body before it reads
// anything, and drops a delivery id it has seen: a notice comes at least
// once, and may come again.
func Example_receiver() {
	secret := []byte("the value notify.secretRef names")
	seen := map[string]bool{}
	receiver := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, err := io.ReadAll(io.LimitReader(r.Body, 1<<20))
		if err != nil || !notify.Verify(secret, body, r.Header.Get(notify.HeaderSignature)) {
			http.Error(w, "bad signature", http.StatusUnauthorized)
			return
		}
		var n struct {
			TaskID     string `json:"taskId"`
			Status     string `json:"status"`
			ExitCode   *int   `json:"exitCode"`
			DeliveryID string `json:"deliveryId"`
		}
		if err := json.Unmarshal(body, &n); err != nil {
			http.Error(w, "bad body", http.StatusBadRequest)
			return
		}
		// The signed body's id, not the header's: a captured notice
		// replayed under another header is still the same delivery.
		if seen[n.DeliveryID] {
			w.WriteHeader(http.StatusOK) // already handled: accept again
			return
		}
		seen[n.DeliveryID] = true
		exit := "no exit code" // the command never ran
		if n.ExitCode != nil {
			exit = fmt.Sprint(*n.ExitCode)
		}
		fmt.Println(r.Header.Get(notify.HeaderEvent), n.TaskID, n.Status, exit)
		w.WriteHeader(http.StatusNoContent)
	}))
	defer receiver.Close()

	// What sandstep does when the task ends (Local: the receiver is on
	// 127.0.0.1, as only the local stack allows).
	sender := notify.NewSender(notify.Options{Local: true})
	body := []byte(`{"taskId":"tsk_example","status":"succeeded","exitCode":0,"deliveryId":"dlv_example"}`)
	for range 2 {
		err := sender.Send(context.Background(), receiver.URL+"/sandstep", "dlv_example", body, string(secret))
		fmt.Println("delivered:", err == nil)
	}
	// Output:
	// task.ended tsk_example succeeded 0
	// delivered: true
	// delivered: true
}
