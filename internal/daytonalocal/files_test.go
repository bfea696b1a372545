package daytonalocal

import (
	"bytes"
	"io"
	"mime"
	"mime/multipart"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestUploadDownload(t *testing.T) {
	h := newHarness(t, Options{})
	sb := h.create(nil)
	dir := h.workDir(sb.ID)
	files := map[string]string{
		"a.txt":                        "alpha",
		"deep/nested/dir/b.bin":        "\x00\x01binary\xff",
		filepath.Join(dir, "abs.txt"):  "absolute inside",
		"with space/and-unicode-é.txt": "ünïcode",
	}
	if r := h.upload(sb.ID, files); r.status != http.StatusOK {
		t.Fatalf("upload: %d %s", r.status, r.body)
	}
	for p, want := range files {
		r := h.download(sb.ID, p)
		if r.status != 200 || string(r.body) != want {
			t.Errorf("download %s = %d %q, want %q", p, r.status, r.body, want)
		}
		if ct := r.header.Get("Content-Type"); ct != "application/octet-stream" {
			t.Errorf("download content type %q", ct)
		}
	}
	// Overwrite.
	h.upload(sb.ID, map[string]string{"a.txt": "beta"})
	if r := h.download(sb.ID, "a.txt"); string(r.body) != "beta" {
		t.Errorf("after overwrite a.txt = %q", r.body)
	}
	// Commands see the same files.
	if _, out := h.execute(sb.ID, "cat deep/nested/dir/b.bin | wc -c"); strings.TrimSpace(out) != "9" {
		t.Errorf("command sees %q bytes", out)
	}
	checkToolboxError(t, h.download(sb.ID, "missing.txt"), 404, "FILE_NOT_FOUND")
	checkToolboxError(t, h.download(sb.ID, "deep"), 400, "BAD_REQUEST")
	checkToolboxError(t, h.tb(sb.ID, "GET", "/files/download", nil), 400, "BAD_REQUEST")
}

func TestUploadFilePartBeforePath(t *testing.T) {
	h := newHarness(t, Options{})
	sb := h.create(nil)
	var buf bytes.Buffer
	mw := multipart.NewWriter(&buf)
	fw, _ := mw.CreateFormFile("files[0].file", "x")
	io.WriteString(fw, "late path")
	mw.WriteField("files[0].path", "late.txt")
	mw.Close()
	r := h.request("POST", "/toolbox/"+sb.ID+"/files/bulk-upload", &buf, map[string]string{"Content-Type": mw.FormDataContentType()})
	if r.status != 200 {
		t.Fatalf("upload: %d %s", r.status, r.body)
	}
	if got := h.download(sb.ID, "late.txt"); string(got.body) != "late path" {
		t.Errorf("late.txt = %q", got.body)
	}

	buf.Reset()
	mw = multipart.NewWriter(&buf)
	fw, _ = mw.CreateFormFile("files[0].file", "x")
	io.WriteString(fw, "orphan")
	mw.Close()
	r = h.request("POST", "/toolbox/"+sb.ID+"/files/bulk-upload", &buf, map[string]string{"Content-Type": mw.FormDataContentType()})
	checkToolboxError(t, r, 400, "BAD_REQUEST")
	checkToolboxError(t, h.request("POST", "/toolbox/"+sb.ID+"/files/bulk-upload", strings.NewReader("x"),
		map[string]string{"Content-Type": "text/plain"}), 400, "BAD_REQUEST")
}

func TestPathEscapesRejected(t *testing.T) {
	h := newHarness(t, Options{})
	sb := h.create(nil)
	dir := h.workDir(sb.ID)
	outside := t.TempDir()
	if err := os.WriteFile(filepath.Join(outside, "secret"), []byte("s"), 0o644); err != nil {
		t.Fatal(err)
	}
	if code, out := h.execute(sb.ID, "ln -s "+outside+" link"); code != 0 {
		t.Fatalf("ln: %s", out)
	}
	paths := []struct {
		name string
		path string
	}{
		{"dot-dot", "../escape.txt"},
		{"nested dot-dot", "a/../../escape.txt"},
		{"absolute outside", "/etc/passwd"},
		{"sibling prefix", dir + "-other/x"},
		{"daytona home is not mapped", "/home/daytona/x"},
		{"through a symlink", "link/secret"},
	}
	for _, tt := range paths {
		t.Run(tt.name, func(t *testing.T) {
			checkToolboxError(t, h.download(sb.ID, tt.path), 400, "BAD_REQUEST")
			checkToolboxError(t, h.upload(sb.ID, map[string]string{tt.path: "x"}), 400, "BAD_REQUEST")
			checkToolboxError(t, h.tb(sb.ID, "POST", "/files/folder?path="+urlQuery(tt.path)+"&mode=755", nil), 400, "BAD_REQUEST")
		})
	}
	if _, err := os.Stat(filepath.Join(filepath.Dir(dir), "escape.txt")); !os.IsNotExist(err) {
		t.Errorf("an escaping upload was written: %v", err)
	}
	// Staying inside with .. is fine.
	if r := h.upload(sb.ID, map[string]string{"a/../inside.txt": "ok"}); r.status != 200 {
		t.Errorf("a/../inside.txt: %d %s", r.status, r.body)
	}
	if r := h.download(sb.ID, "inside.txt"); string(r.body) != "ok" {
		t.Errorf("inside.txt = %q", r.body)
	}
}

func TestFolderListInfoDelete(t *testing.T) {
	h := newHarness(t, Options{})
	sb := h.create(nil)
	if r := h.tb(sb.ID, "POST", "/files/folder?path=p/q&mode=750", nil); r.status != http.StatusCreated {
		t.Fatalf("folder: %d %s", r.status, r.body)
	}
	checkToolboxError(t, h.tb(sb.ID, "POST", "/files/folder?path=p/r", nil), 400, "BAD_REQUEST")
	checkToolboxError(t, h.tb(sb.ID, "POST", "/files/folder?path=p/r&mode=9z", nil), 400, "BAD_REQUEST")

	r := h.tb(sb.ID, "GET", "/files/info?path=p/q", nil)
	m := r.json(t)
	requireKeys(t, "FileInfo", m, []string{"group", "isDir", "modTime", "mode", "modifiedAt", "name", "owner", "permissions", "size"})
	if m["isDir"] != true || m["permissions"] != "0750" || m["name"] != "q" {
		t.Errorf("info = %v", m)
	}
	h.upload(sb.ID, map[string]string{"p/f.txt": "x"})
	r = h.tb(sb.ID, "GET", "/files?path=p", nil)
	var list []struct {
		Name  string `json:"name"`
		IsDir bool   `json:"isDir"`
	}
	r.decode(t, &list)
	if len(list) != 2 || list[0].Name != "f.txt" || list[1].Name != "q" || !list[1].IsDir {
		t.Errorf("list = %s", r.body)
	}
	checkToolboxError(t, h.tb(sb.ID, "DELETE", "/files?path=p", nil), 400, "BAD_REQUEST")
	if r := h.tb(sb.ID, "DELETE", "/files?path=p&recursive=true", nil); r.status != http.StatusNoContent {
		t.Errorf("delete: %d %s", r.status, r.body)
	}
	checkToolboxError(t, h.tb(sb.ID, "GET", "/files/info?path=p", nil), 404, "FILE_NOT_FOUND")
	checkToolboxError(t, h.tb(sb.ID, "DELETE", "/files?path=.&recursive=true", nil), 400, "BAD_REQUEST")
}

func TestBulkDownload(t *testing.T) {
	h := newHarness(t, Options{})
	sb := h.create(nil)
	h.upload(sb.ID, map[string]string{"one.txt": "1", "two.txt": "22"})
	r := h.tb(sb.ID, "POST", "/files/bulk-download", map[string]any{"paths": []string{"one.txt", "missing", "two.txt"}})
	if r.status != 200 {
		t.Fatalf("bulk-download: %d %s", r.status, r.body)
	}
	mt, params, err := mime.ParseMediaType(r.header.Get("Content-Type"))
	if err != nil || mt != "multipart/form-data" || params["boundary"] != "DAYTONA-FILE-BOUNDARY" {
		t.Fatalf("content type %q", r.header.Get("Content-Type"))
	}
	mr := multipart.NewReader(bytes.NewReader(r.body), params["boundary"])
	var got []string
	for {
		p, err := mr.NextPart()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(p)
		entry := p.FormName() + ":" + p.FileName()
		if p.FormName() == "file" {
			entry += "=" + string(b)
		} else if !strings.Contains(string(b), "FILE_NOT_FOUND") {
			t.Errorf("error part = %s", b)
		}
		got = append(got, entry)
	}
	if want := "file:one.txt=1,error:missing,file:two.txt=22"; strings.Join(got, ",") != want {
		t.Errorf("parts = %v, want %s", got, want)
	}
}

func TestUploadV2(t *testing.T) {
	h := newHarness(t, Options{})
	sb := h.create(nil)
	r := h.request("POST", "/toolbox/"+sb.ID+"/files/upload-v2?path=raw/r.txt", strings.NewReader("raw body"),
		map[string]string{"Content-Type": "application/octet-stream"})
	m := r.json(t)
	if r.status != 200 || m["name"] != "r.txt" || m["type"] != "file" {
		t.Errorf("upload-v2: %d %s", r.status, r.body)
	}
	if got := h.download(sb.ID, "raw/r.txt"); string(got.body) != "raw body" {
		t.Errorf("raw/r.txt = %q", got.body)
	}
}
