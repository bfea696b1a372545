package daytonalocal

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"mime"
	"mime/multipart"
	"net/http"
	"net/textproto"
	"os"
	"os/user"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// bulkDownloadBoundary is the multipart boundary Daytona's daemon uses.
const bulkDownloadBoundary = "DAYTONA-FILE-BOUNDARY"

var filesField = regexp.MustCompile(`^files\[(\d+)\]\.(path|file)$`)

// pathParam resolves a required query parameter "path", writing 400 on a
// missing or escaping path.
func (s *Server) pathParam(w http.ResponseWriter, r *http.Request, sb *sandbox) (string, bool) {
	p, err := sb.resolve(r.URL.Query().Get("path"))
	if err != nil {
		s.daemonError(w, r, http.StatusBadRequest, codeBadRequest, "%s", err.Error())
		return "", false
	}
	return p, true
}

// handleBulkUpload streams a multipart body of files[i].path and
// files[i].file pairs (in either order) into place; parents are created and
// existing files replaced.
func (s *Server) handleBulkUpload(w http.ResponseWriter, r *http.Request, sb *sandbox) {
	r.Body = http.MaxBytesReader(w, r.Body, s.opts.MaxUploadBytes)
	mr, err := r.MultipartReader()
	if err != nil {
		s.daemonError(w, r, http.StatusBadRequest, codeBadRequest, "expected a multipart/form-data body: %v", err)
		return
	}
	staging := filepath.Join(sb.stateDir, "upload")
	if err := os.MkdirAll(staging, 0o700); err != nil {
		s.daemonError(w, r, http.StatusInternalServerError, codeInternal, "failed to prepare the upload")
		return
	}
	dests := map[string]string{}  // index → resolved destination
	staged := map[string]string{} // index → temporary file awaiting its path
	placed := map[string]bool{}
	defer func() {
		for _, tmp := range staged {
			os.Remove(tmp)
		}
	}()
	fail := func(status int, format string, args ...any) {
		s.daemonError(w, r, status, codeBadRequest, format, args...)
	}
	for {
		part, err := mr.NextPart()
		if err == io.EOF {
			break
		}
		if err != nil {
			fail(uploadErrorStatus(err), "read multipart body: %v", err)
			return
		}
		m := filesField.FindStringSubmatch(part.FormName())
		if m == nil {
			_, _ = io.Copy(io.Discard, part)
			continue
		}
		idx, field := m[1], m[2]
		switch field {
		case "path":
			b, err := io.ReadAll(io.LimitReader(part, 4097))
			if err != nil {
				fail(uploadErrorStatus(err), "read files[%s].path: %v", idx, err)
				return
			}
			dst, err := sb.resolve(string(b))
			if err != nil {
				fail(http.StatusBadRequest, "files[%s].path: %v", idx, err)
				return
			}
			dests[idx] = dst
		case "file":
			tmp, err := os.CreateTemp(staging, "part-")
			if err != nil {
				fail(http.StatusInternalServerError, "failed to stage files[%s].file", idx)
				return
			}
			_, err = io.Copy(tmp, part)
			if cerr := tmp.Close(); err == nil {
				err = cerr
			}
			if old, ok := staged[idx]; ok {
				os.Remove(old)
			}
			staged[idx] = tmp.Name()
			if err != nil {
				fail(uploadErrorStatus(err), "read files[%s].file: %v", idx, err)
				return
			}
		}
		if dst, ok := dests[idx]; ok {
			if tmp, ok := staged[idx]; ok {
				if err := placeFile(tmp, dst); err != nil {
					fail(http.StatusBadRequest, "files[%s]: %v", idx, err)
					return
				}
				delete(staged, idx)
				placed[idx] = true
			}
		}
	}
	if idx, ok := smallestKey(staged); ok {
		fail(http.StatusBadRequest, "files[%s].file has no files[%s].path", idx, idx)
		return
	}
	for idx := range placed {
		delete(dests, idx)
	}
	if idx, ok := smallestKey(dests); ok {
		fail(http.StatusBadRequest, "files[%s].path has no files[%s].file", idx, idx)
		return
	}
	w.WriteHeader(http.StatusOK)
}

// smallestKey returns the smallest key of a map, for deterministic errors.
func smallestKey(m map[string]string) (string, bool) {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	if len(keys) == 0 {
		return "", false
	}
	return keys[0], true
}

func uploadErrorStatus(err error) int {
	var mbe *http.MaxBytesError
	if errors.As(err, &mbe) {
		return http.StatusRequestEntityTooLarge
	}
	return http.StatusBadRequest
}

// placeFile moves a staged upload to its destination, creating parents
// and replacing an existing file.
func placeFile(tmp, dst string) error {
	if fi, err := os.Stat(dst); err == nil && fi.IsDir() {
		return fmt.Errorf("%s is a directory", dst)
	}
	if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
		return fmt.Errorf("create parent directories: %w", err)
	}
	if err := os.Chmod(tmp, 0o644); err != nil {
		return err
	}
	if err := os.Rename(tmp, dst); err != nil {
		return fmt.Errorf("write %s: %w", dst, err)
	}
	return nil
}

// handleUploadV2 writes one file from multipart field "file" or the raw
// body.
func (s *Server) handleUploadV2(w http.ResponseWriter, r *http.Request, sb *sandbox) {
	dst, ok := s.pathParam(w, r, sb)
	if !ok {
		return
	}
	r.Body = http.MaxBytesReader(w, r.Body, s.opts.MaxUploadBytes)
	var src io.Reader = r.Body
	if mt, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type")); mt == "multipart/form-data" {
		mr, err := r.MultipartReader()
		if err != nil {
			s.daemonError(w, r, http.StatusBadRequest, codeBadRequest, "read multipart body: %v", err)
			return
		}
		for src = nil; src == nil; {
			part, err := mr.NextPart()
			if err != nil {
				s.daemonError(w, r, http.StatusBadRequest, codeBadRequest, "multipart body has no \"file\" field")
				return
			}
			if part.FormName() == "file" {
				src = part
			}
		}
	}
	staging := filepath.Join(sb.stateDir, "upload")
	if err := os.MkdirAll(staging, 0o700); err != nil {
		s.daemonError(w, r, http.StatusInternalServerError, codeInternal, "failed to prepare the upload")
		return
	}
	tmp, err := os.CreateTemp(staging, "part-")
	if err != nil {
		s.daemonError(w, r, http.StatusInternalServerError, codeInternal, "failed to prepare the upload")
		return
	}
	defer os.Remove(tmp.Name())
	_, err = io.Copy(tmp, src)
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		s.daemonError(w, r, uploadErrorStatus(err), codeBadRequest, "read upload: %v", err)
		return
	}
	if err := placeFile(tmp.Name(), dst); err != nil {
		s.daemonError(w, r, http.StatusBadRequest, codeBadRequest, "%v", err)
		return
	}
	writeJSON(w, http.StatusOK, uploadedFile{Name: filepath.Base(dst), Path: dst, Type: "file"})
}

// openRegular opens a regular file for download, describing failures as a
// status, code and message.
func openRegular(p string) (*os.File, os.FileInfo, int, string, string) {
	f, err := os.Open(p)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil, http.StatusNotFound, codeFileNotFound, "file not found: " + p
	}
	if errors.Is(err, fs.ErrPermission) {
		return nil, nil, http.StatusForbidden, "FILE_ACCESS_DENIED", "permission denied: " + p
	}
	if err != nil {
		return nil, nil, http.StatusBadRequest, codeBadRequest, err.Error()
	}
	fi, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, nil, http.StatusBadRequest, codeBadRequest, err.Error()
	}
	if fi.IsDir() {
		f.Close()
		return nil, nil, http.StatusBadRequest, codeBadRequest, p + " is a directory"
	}
	return f, fi, 0, "", ""
}

func (s *Server) handleDownload(w http.ResponseWriter, r *http.Request, sb *sandbox) {
	p, ok := s.pathParam(w, r, sb)
	if !ok {
		return
	}
	f, fi, status, code, msg := openRegular(p)
	if f == nil {
		s.daemonError(w, r, status, code, "%s", msg)
		return
	}
	defer f.Close()
	h := w.Header()
	h.Set("Content-Type", "application/octet-stream")
	h.Set("Content-Disposition", mime.FormatMediaType("attachment", map[string]string{"filename": filepath.Base(p)}))
	h.Set("Content-Length", strconv.FormatInt(fi.Size(), 10))
	w.WriteHeader(http.StatusOK)
	_, _ = io.Copy(w, f)
}

// handleBulkDownload answers a multipart body with a "file" part (filename
// = the requested path) or an "error" part (JSON ErrorResponse) per path.
func (s *Server) handleBulkDownload(w http.ResponseWriter, r *http.Request, sb *sandbox) {
	var req filesDownloadRequest
	if !s.readJSON(w, r, &req, false) {
		return
	}
	if len(req.Paths) == 0 {
		s.daemonError(w, r, http.StatusBadRequest, codeBadRequest, "paths must not be empty")
		return
	}
	mw := multipart.NewWriter(w)
	if err := mw.SetBoundary(bulkDownloadBoundary); err != nil {
		s.daemonError(w, r, http.StatusInternalServerError, codeInternal, "%v", err)
		return
	}
	w.Header().Set("Content-Type", mw.FormDataContentType())
	w.WriteHeader(http.StatusOK)
	quote := strings.NewReplacer(`\`, `\\`, `"`, `\"`).Replace
	for _, reqPath := range req.Paths {
		status, code, msg := 0, "", ""
		var f *os.File
		p, err := sb.resolve(reqPath)
		if err != nil {
			status, code, msg = http.StatusBadRequest, codeBadRequest, err.Error()
		} else {
			f, _, status, code, msg = openRegular(p)
		}
		if f == nil {
			h := textproto.MIMEHeader{}
			h.Set("Content-Disposition", `form-data; name="error"; filename="`+quote(reqPath)+`"`)
			h.Set("Content-Type", "application/json")
			part, err := mw.CreatePart(h)
			if err != nil {
				return
			}
			_ = json.NewEncoder(part).Encode(toolboxErrorBody{StatusCode: status, Message: msg, Code: code,
				Timestamp: s.now().UTC().Format(time.RFC3339Nano), Path: toolboxSubpath(r.URL.Path),
				Method: r.Method, Source: sourceDaemon})
			continue
		}
		h := textproto.MIMEHeader{}
		h.Set("Content-Disposition", `form-data; name="file"; filename="`+quote(reqPath)+`"`)
		h.Set("Content-Type", "application/octet-stream")
		part, err := mw.CreatePart(h)
		if err == nil {
			_, err = io.Copy(part, f)
		}
		f.Close()
		if err != nil {
			return
		}
	}
	_ = mw.Close()
}

func (s *Server) handleFolder(w http.ResponseWriter, r *http.Request, sb *sandbox) {
	p, ok := s.pathParam(w, r, sb)
	if !ok {
		return
	}
	modeStr := r.URL.Query().Get("mode")
	if modeStr == "" {
		s.daemonError(w, r, http.StatusBadRequest, codeBadRequest, "mode is required")
		return
	}
	mode, err := strconv.ParseUint(modeStr, 8, 32)
	if err != nil || mode > 0o7777 {
		s.daemonError(w, r, http.StatusBadRequest, codeBadRequest, "mode %q is not an octal permission mode", modeStr)
		return
	}
	if err := os.MkdirAll(p, os.FileMode(mode)); err != nil {
		s.daemonError(w, r, http.StatusBadRequest, codeBadRequest, "create folder: %v", err)
		return
	}
	if err := os.Chmod(p, os.FileMode(mode)); err != nil {
		s.daemonError(w, r, http.StatusBadRequest, codeBadRequest, "set folder mode: %v", err)
		return
	}
	w.WriteHeader(http.StatusCreated)
}

func fileInfo(p string, fi os.FileInfo) fileInfoDTO {
	d := fileInfoDTO{
		Name:        fi.Name(),
		Path:        p,
		IsDir:       fi.IsDir(),
		Size:        fi.Size(),
		Mode:        fi.Mode().String(),
		Permissions: fmt.Sprintf("%04o", fi.Mode().Perm()),
		ModTime:     fi.ModTime().String(),
		ModifiedAt:  fi.ModTime().UTC().Format(time.RFC3339Nano),
	}
	if st, ok := fi.Sys().(*syscall.Stat_t); ok {
		d.Owner = strconv.FormatUint(uint64(st.Uid), 10)
		d.Group = strconv.FormatUint(uint64(st.Gid), 10)
		if u, err := user.LookupId(d.Owner); err == nil {
			d.Owner = u.Username
		}
		if g, err := user.LookupGroupId(d.Group); err == nil {
			d.Group = g.Name
		}
	}
	return d
}

func (s *Server) statOr404(w http.ResponseWriter, r *http.Request, p string) (os.FileInfo, bool) {
	fi, err := os.Lstat(p)
	if errors.Is(err, fs.ErrNotExist) {
		s.daemonError(w, r, http.StatusNotFound, codeFileNotFound, "file not found: %s", p)
		return nil, false
	}
	if err != nil {
		s.daemonError(w, r, http.StatusBadRequest, codeBadRequest, "%v", err)
		return nil, false
	}
	return fi, true
}

func (s *Server) handleFileInfo(w http.ResponseWriter, r *http.Request, sb *sandbox) {
	p, ok := s.pathParam(w, r, sb)
	if !ok {
		return
	}
	if fi, ok := s.statOr404(w, r, p); ok {
		writeJSON(w, http.StatusOK, fileInfo(p, fi))
	}
}

func (s *Server) handleListFiles(w http.ResponseWriter, r *http.Request, sb *sandbox) {
	p := sb.dir
	if r.URL.Query().Get("path") != "" {
		var ok bool
		if p, ok = s.pathParam(w, r, sb); !ok {
			return
		}
	}
	depth := 1
	if v := r.URL.Query().Get("depth"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 {
			s.daemonError(w, r, http.StatusBadRequest, codeBadRequest, "depth must be an integer >= 1")
			return
		}
		depth = n
	}
	fi, ok := s.statOr404(w, r, p)
	if !ok {
		return
	}
	if !fi.IsDir() {
		s.daemonError(w, r, http.StatusBadRequest, codeBadRequest, "%s is not a directory", p)
		return
	}
	out := []fileInfoDTO{}
	var walk func(dir string, level int) error
	walk = func(dir string, level int) error {
		entries, err := os.ReadDir(dir)
		if err != nil {
			return err
		}
		for _, e := range entries {
			full := filepath.Join(dir, e.Name())
			info, err := e.Info()
			if err != nil {
				continue
			}
			out = append(out, fileInfo(full, info))
			if e.IsDir() && level < depth {
				if err := walk(full, level+1); err != nil {
					return err
				}
			}
		}
		return nil
	}
	if err := walk(p, 1); err != nil {
		s.daemonError(w, r, http.StatusBadRequest, codeBadRequest, "list %s: %v", p, err)
		return
	}
	writeJSON(w, http.StatusOK, out)
}

func (s *Server) handleDeleteFile(w http.ResponseWriter, r *http.Request, sb *sandbox) {
	p, ok := s.pathParam(w, r, sb)
	if !ok {
		return
	}
	if p == sb.dir {
		s.daemonError(w, r, http.StatusBadRequest, codeBadRequest, "cannot delete the work directory")
		return
	}
	fi, ok := s.statOr404(w, r, p)
	if !ok {
		return
	}
	recursive, _ := strconv.ParseBool(r.URL.Query().Get("recursive"))
	var err error
	if fi.IsDir() && recursive {
		err = os.RemoveAll(p)
	} else {
		err = os.Remove(p)
	}
	if err != nil {
		s.daemonError(w, r, http.StatusBadRequest, codeBadRequest, "delete %s: %v", p, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

func (s *Server) handleWorkDir(w http.ResponseWriter, r *http.Request, sb *sandbox) {
	writeJSON(w, http.StatusOK, dirResponse{Dir: sb.dir})
}

func (s *Server) handleVersion(w http.ResponseWriter, r *http.Request, sb *sandbox) {
	writeJSON(w, http.StatusOK, map[string]string{"version": daemonVersion})
}
