package sandstep

import "time"

// NoticeStatus is where a task's completion notice stands.
type NoticeStatus string

const (
	// NoticePending: not delivered yet; attempted once the task has ended,
	// then again with backoff until NOTIFY_RETRY_FOR has passed.
	NoticePending NoticeStatus = "pending"
	// NoticeDelivered: a receiver accepted it (a 2xx answer).
	NoticeDelivered NoticeStatus = "delivered"
	// NoticeFailed: given up; LastError says why.
	NoticeFailed NoticeStatus = "failed"
)

// TaskNotice is a task's completion notice: where it goes and how its
// delivery stands. The URL (which may carry a token in its path or query)
// and the secret's reference are kept, never shown: a caller sees the
// host, whether it is signed, and the delivery's state.
type TaskNotice struct {
	URL       string `json:"-" dynamodbav:"url"`
	SecretRef string `json:"-" dynamodbav:"secretRef,omitempty"`
	// Host is the URL's host, shown so a caller can tell where it goes.
	Host   string `json:"host" dynamodbav:"host"`
	Signed bool   `json:"signed" dynamodbav:"signed"`
	// DeliveryID is the same on every attempt: receivers drop repeats.
	DeliveryID    string       `json:"deliveryId" dynamodbav:"deliveryId"`
	Status        NoticeStatus `json:"status" dynamodbav:"status"`
	Attempts      int          `json:"attempts" dynamodbav:"attempts"`
	LastError     string       `json:"lastError,omitempty" dynamodbav:"lastError,omitempty"`
	LastAttemptAt *time.Time   `json:"lastAttemptAt,omitempty" dynamodbav:"lastAttemptAt,omitempty"`
	// NextAttemptAt is when the next attempt is due; before it, an attempt
	// in flight holds the notice.
	NextAttemptAt *time.Time `json:"nextAttemptAt,omitempty" dynamodbav:"nextAttemptAt,omitempty"`
	DeliveredAt   *time.Time `json:"deliveredAt,omitempty" dynamodbav:"deliveredAt,omitempty"`
}
