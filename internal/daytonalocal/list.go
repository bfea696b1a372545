package daytonalocal

import (
	"encoding/base64"
	"encoding/json"
	"math"
	"net/http"
	"net/url"
	"sort"
	"strconv"
	"strings"
	"time"
)

// listCursor is the opaque nextCursor: the sort key of the last item
// returned, so paging is stable while sandboxes come and go.
type listCursor struct {
	Field string  `json:"f"`
	Order string  `json:"o"`
	Num   float64 `json:"n"`
	Str   string  `json:"s"`
	ID    string  `json:"i"`
}

type listKey struct {
	num float64
	str string
	id  string
}

// compare orders keys ascending: number, then string, then id.
func (a listKey) compare(b listKey) int {
	switch {
	case a.num < b.num:
		return -1
	case a.num > b.num:
		return 1
	}
	if c := strings.Compare(a.str, b.str); c != 0 {
		return c
	}
	return strings.Compare(a.id, b.id)
}

func sortKey(sb *sandbox, field string) listKey {
	k := listKey{id: sb.id}
	switch field {
	case "name":
		k.str = sb.name
	case "cpu":
		k.num = float64(sb.cpu)
	case "memoryGib":
		k.num = float64(sb.memory)
	case "diskGib":
		k.num = float64(sb.disk)
	case "lastActivityAt":
		k.num = float64(sb.lastActivity.UnixNano())
	default: // createdAt
		k.num = float64(sb.createdAt.UnixNano())
	}
	return k
}

// listFilter is the parsed query of GET /sandbox.
type listFilter struct {
	limit                      int
	idPrefix, namePrefix       string
	labels                     map[string]string
	states, snapshots, regions []string
	classes                    []string
	minCPU, maxCPU             float64
	minMem, maxMem             float64
	minDisk, maxDisk           float64
	public, recoverable        *bool
	createdAfter, createdBef   time.Time
	eventAfter, eventBefore    time.Time
	destroyAfter, destroyBef   time.Time
	sort, order                string
	cursor                     *listCursor
}

// multi reads a repeated query key (also "key[]" and comma-separated).
func multi(q url.Values, key string) []string {
	var out []string
	for _, v := range append(q[key], q[key+"[]"]...) {
		for _, p := range strings.Split(v, ",") {
			if p = strings.TrimSpace(p); p != "" {
				out = append(out, p)
			}
		}
	}
	return out
}

func parseListFilter(q url.Values) (listFilter, string) {
	f := listFilter{limit: 100, sort: "createdAt", order: "desc",
		minCPU: math.Inf(-1), maxCPU: math.Inf(1), minMem: math.Inf(-1), maxMem: math.Inf(1),
		minDisk: math.Inf(-1), maxDisk: math.Inf(1)}
	if v := q.Get("limit"); v != "" {
		n, err := strconv.ParseFloat(v, 64)
		if err != nil || n != math.Trunc(n) || n < 1 || n > 200 {
			return f, "limit must be an integer between 1 and 200"
		}
		f.limit = int(n)
	}
	f.idPrefix = strings.ToLower(q.Get("id"))
	f.namePrefix = strings.ToLower(q.Get("name"))
	if v := q.Get("labels"); v != "" {
		if err := json.Unmarshal([]byte(v), &f.labels); err != nil {
			return f, "labels must be a JSON-encoded object of strings"
		}
	}
	f.states = multi(q, "states")
	for _, st := range f.states {
		if !contains(sandboxStates, st) {
			return f, "each value in states must be one of the following values: " + strings.Join(sandboxStates, ", ")
		}
	}
	f.snapshots = multi(q, "snapshots")
	f.regions = multi(q, "regionIds")
	f.classes = multi(q, "sandboxClasses")
	for _, c := range f.classes {
		if !contains([]string{"linux-vm", "container", "android", "windows"}, c) {
			return f, "each value in sandboxClasses must be one of the following values: linux-vm, container, android, windows"
		}
	}
	for _, n := range []struct {
		key string
		dst *float64
	}{{"minCpu", &f.minCPU}, {"maxCpu", &f.maxCPU}, {"minMemoryGiB", &f.minMem},
		{"maxMemoryGiB", &f.maxMem}, {"minDiskGiB", &f.minDisk}, {"maxDiskGiB", &f.maxDisk}} {
		if v := q.Get(n.key); v != "" {
			x, err := strconv.ParseFloat(v, 64)
			if err != nil || x < 1 {
				return f, n.key + " must be a number not less than 1"
			}
			*n.dst = x
		}
	}
	for _, b := range []struct {
		key string
		dst **bool
	}{{"isPublic", &f.public}, {"isRecoverable", &f.recoverable}} {
		if v := q.Get(b.key); v != "" {
			x, err := strconv.ParseBool(v)
			if err != nil {
				return f, b.key + " must be a boolean value"
			}
			*b.dst = &x
		}
	}
	for _, t := range []struct {
		key string
		dst *time.Time
	}{{"createdAtAfter", &f.createdAfter}, {"createdAtBefore", &f.createdBef},
		{"lastEventAfter", &f.eventAfter}, {"lastEventBefore", &f.eventBefore},
		{"autoDestroyAtAfter", &f.destroyAfter}, {"autoDestroyAtBefore", &f.destroyBef}} {
		if v := q.Get(t.key); v != "" {
			x, err := time.Parse(time.RFC3339Nano, v)
			if err != nil {
				return f, t.key + " must be a valid ISO 8601 date string"
			}
			*t.dst = x
		}
	}
	if v := q.Get("sort"); v != "" {
		if !contains([]string{"name", "cpu", "memoryGib", "diskGib", "lastActivityAt", "createdAt"}, v) {
			return f, "sort must be one of the following values: name, cpu, memoryGib, diskGib, lastActivityAt, createdAt"
		}
		f.sort = v
	}
	if v := q.Get("order"); v != "" {
		if v != "asc" && v != "desc" {
			return f, "order must be one of the following values: asc, desc"
		}
		f.order = v
	}
	if v := q.Get("cursor"); v != "" {
		var c listCursor
		b, err := base64.RawURLEncoding.DecodeString(v)
		if err == nil {
			err = json.Unmarshal(b, &c)
		}
		if err != nil || c.Field != f.sort || c.Order != f.order {
			return f, "Invalid cursor"
		}
		f.cursor = &c
	}
	return f, ""
}

func (f *listFilter) keep(sb *sandbox) bool {
	if f.idPrefix != "" && !strings.HasPrefix(strings.ToLower(sb.id), f.idPrefix) {
		return false
	}
	if f.namePrefix != "" && !strings.HasPrefix(strings.ToLower(sb.name), f.namePrefix) {
		return false
	}
	for k, v := range f.labels {
		if got, ok := sb.labels[k]; !ok || got != v {
			return false
		}
	}
	if len(f.states) > 0 && !contains(f.states, sb.state) {
		return false
	}
	if len(f.snapshots) > 0 && !contains(f.snapshots, sb.snapshot) {
		return false
	}
	if len(f.regions) > 0 && !contains(f.regions, sb.target) {
		return false
	}
	if len(f.classes) > 0 && !contains(f.classes, sandboxClass) {
		return false
	}
	if c, m, d := float64(sb.cpu), float64(sb.memory), float64(sb.disk); c < f.minCPU || c > f.maxCPU ||
		m < f.minMem || m > f.maxMem || d < f.minDisk || d > f.maxDisk {
		return false
	}
	if f.public != nil && *f.public != sb.public {
		return false
	}
	if f.recoverable != nil && *f.recoverable != (sb.recoverable != nil && *sb.recoverable) {
		return false
	}
	if !inRange(sb.createdAt, f.createdAfter, f.createdBef) || !inRange(sb.updatedAt, f.eventAfter, f.eventBefore) {
		return false
	}
	if !f.destroyAfter.IsZero() || !f.destroyBef.IsZero() {
		if sb.autoDestroyAt.IsZero() || !inRange(sb.autoDestroyAt, f.destroyAfter, f.destroyBef) {
			return false
		}
	}
	return true
}

func inRange(t, after, before time.Time) bool {
	if !after.IsZero() && !t.After(after) {
		return false
	}
	if !before.IsZero() && !t.Before(before) {
		return false
	}
	return true
}

func (s *Server) handleList(w http.ResponseWriter, r *http.Request) {
	f, msg := parseListFilter(r.URL.Query())
	if msg != "" {
		s.apiError(w, r, http.StatusBadRequest, "%s", msg)
		return
	}
	type row struct {
		key  listKey
		item sandboxListItemDTO
	}
	base := toolboxBase(r)
	var rows []row
	s.mu.Lock()
	for _, sb := range s.sandboxes {
		if f.keep(sb) {
			rows = append(rows, row{sortKey(sb, f.sort), s.listItemLocked(sb, base)})
		}
	}
	s.mu.Unlock()

	dir := 1
	if f.order == "desc" {
		dir = -1
	}
	sort.Slice(rows, func(i, j int) bool { return dir*rows[i].key.compare(rows[j].key) < 0 })
	if c := f.cursor; c != nil {
		after := listKey{num: c.Num, str: c.Str, id: c.ID}
		i := sort.Search(len(rows), func(i int) bool { return dir*rows[i].key.compare(after) > 0 })
		rows = rows[i:]
	}
	resp := listSandboxesResponse{Items: []sandboxListItemDTO{}}
	for i, rw := range rows {
		if i == f.limit {
			last := rows[i-1].key
			b, err := json.Marshal(listCursor{Field: f.sort, Order: f.order, Num: last.num, Str: last.str, ID: last.id})
			if err != nil {
				s.apiError(w, r, http.StatusInternalServerError, "encode cursor: %v", err)
				return
			}
			next := base64.RawURLEncoding.EncodeToString(b)
			resp.NextCursor = &next
			break
		}
		resp.Items = append(resp.Items, rw.item)
	}
	writeJSON(w, http.StatusOK, resp)
}
