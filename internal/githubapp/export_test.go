package githubapp

// StartFakeGitHub starts the tests' GitHub for the examples. It returns
// its URL, the App's id and private key, and a function that stops it.
func StartFakeGitHub() (apiURL string, appID int64, key []byte, stop func()) {
	f := startFake()
	key, _ = appKey()
	return f.srv.URL, f.appID, key, f.srv.Close
}
