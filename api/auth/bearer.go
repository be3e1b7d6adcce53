package auth

// BearerToken returns the token of an Authorization header value of the
// form "Bearer <token>" (RFC 6750 section 2.1): the scheme in any case,
// one or more spaces, a token68 (letters, digits, -._~+/ and trailing
// '='), optional trailing spaces. An empty header is
// ErrMissingCredentials; anything else that is not such a value, or a
// token longer than MaxTokenLen, is ErrMalformedCredentials. The result
// aliases header.
func BearerToken(header []byte) ([]byte, error) {
	if len(header) == 0 {
		return nil, ErrMissingCredentials
	}
	const scheme = "bearer"
	if len(header) <= len(scheme) || !equalFoldASCII(header[:len(scheme)], scheme) || header[len(scheme)] != ' ' {
		return nil, ErrMalformedCredentials
	}
	tok := header[len(scheme):]
	for len(tok) > 0 && tok[0] == ' ' {
		tok = tok[1:]
	}
	for len(tok) > 0 && (tok[len(tok)-1] == ' ' || tok[len(tok)-1] == '\t') {
		tok = tok[:len(tok)-1]
	}
	if len(tok) == 0 || len(tok) > MaxTokenLen || token68Len(tok) != len(tok) {
		return nil, ErrMalformedCredentials
	}
	return tok, nil
}

// equalFoldASCII reports whether b equals the lower-case ASCII string
// lower, ignoring the case of b.
func equalFoldASCII(b []byte, lower string) bool {
	if len(b) != len(lower) {
		return false
	}
	for i := range len(b) {
		c := b[i]
		if 'A' <= c && c <= 'Z' {
			c += 'a' - 'A'
		}
		if c != lower[i] {
			return false
		}
	}
	return true
}

// token68Len returns the length of the token68 prefix of s: characters
// of the token68 alphabet, then only '=' padding. A token68 needs at least
// one non-padding character, so a leading '=' ends it at 0.
func token68Len[T ~string | ~[]byte](s T) int {
	i := 0
	for i < len(s) && isToken68(s[i]) {
		i++
	}
	if i == 0 {
		return 0
	}
	for i < len(s) && s[i] == '=' {
		i++
	}
	return i
}

func isToken68(c byte) bool {
	switch {
	case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9':
		return true
	}
	switch c {
	case '-', '.', '_', '~', '+', '/':
		return true
	}
	return false
}
