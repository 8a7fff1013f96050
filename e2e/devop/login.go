package devop

import (
	"fmt"
	"html"
	"io"
	"net/http"
	"net/url"
	"regexp"
	"strings"
)

// LogIn signs in the way a browser without JavaScript would: it opens
// startURL (a protected page or stauth's login path), follows the redirects
// to this provider's login page, submits the username and password, and
// follows the redirects back. It returns the last response, whose body has
// been read into body. client needs a cookie jar.
func LogIn(client *http.Client, startURL, username, password string) (resp *http.Response, body []byte, err error) {
	req, err := http.NewRequest(http.MethodGet, startURL, nil)
	if err != nil {
		return nil, nil, err
	}
	req.Header.Set("Accept", "text/html,application/xhtml+xml")
	resp, err = client.Do(req)
	if err != nil {
		return nil, nil, err
	}
	resp.Body.Close()
	if resp.Request.URL.Path != "/login/username" || resp.Request.URL.Query().Get("authRequestID") == "" {
		return nil, nil, fmt.Errorf("devop: %s did not lead to the login page but to %s (%s)", startURL, resp.Request.URL, resp.Status)
	}
	return SubmitLogin(client, resp.Request.URL, username, password)
}

// SubmitLogin fills in the login page at loginPage (its URL holds the
// authRequestID) and follows the redirects back, as LogIn's second half.
func SubmitLogin(client *http.Client, loginPage *url.URL, username, password string) (resp *http.Response, body []byte, err error) {
	form := url.Values{"id": {loginPage.Query().Get("authRequestID")}, "username": {username}, "password": {password}, "action": {"login"}}
	req, err := http.NewRequest(http.MethodPost, loginPage.ResolveReference(&url.URL{Path: "/login/username"}).String(), strings.NewReader(form.Encode()))
	if err != nil {
		return nil, nil, err
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Accept", "text/html,application/xhtml+xml")
	resp, err = client.Do(req)
	if err != nil {
		return nil, nil, err
	}
	defer resp.Body.Close()
	body, err = io.ReadAll(resp.Body)
	return resp, body, err
}

// refreshPattern finds the target of a page's meta refresh.
var refreshPattern = regexp.MustCompile(`<meta http-equiv="refresh" content="0;url=([^"]*)">`)

// LogOut presses a stauth page's sign-out button (a POST from the site
// itself) and returns where stauth sends the browser: the Location of a 303,
// or the target of its "Signing you out" page, which refreshes to the
// provider's logout with the ID token (kept out of Location headers).
func LogOut(client *http.Client, siteURL string) (*url.URL, error) {
	req, err := http.NewRequest(http.MethodPost, siteURL+"/auth/logout", nil)
	if err != nil {
		return nil, err
	}
	req.Header.Set("Sec-Fetch-Site", "same-origin")
	noRedirects := *client
	noRedirects.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	resp, err := noRedirects.Do(req)
	if err != nil {
		return nil, err
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	switch m := refreshPattern.FindSubmatch(body); {
	case resp.StatusCode == http.StatusSeeOther:
		return url.Parse(resp.Header.Get("Location"))
	case resp.StatusCode == http.StatusOK && m != nil:
		return url.Parse(html.UnescapeString(string(m[1])))
	}
	return nil, fmt.Errorf("logout answered %s, want a redirect or a page that refreshes", resp.Status)
}

// ReturnFromLogout follows the provider's logout URL (where LogOut sent the
// browser) and checks that the provider sends the browser back to stauth's
// signed-out page at the site's callback.
func ReturnFromLogout(client *http.Client, end *url.URL, siteURL string) error {
	resp, err := client.Get(end.String())
	if err != nil {
		return err
	}
	page, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.Request.URL.String() != siteURL+"/oauth2callback" || resp.StatusCode != http.StatusOK || !strings.Contains(string(page), "You have signed out") {
		return fmt.Errorf("after the provider's logout the browser is at %s with %s, want stauth's signed-out page at %s/oauth2callback", resp.Request.URL, resp.Status, siteURL)
	}
	return nil
}
