package filter

import (
	"strconv"
	"strings"
	"time"
	"unicode/utf16"
	"unicode/utf8"
)

type tokenKind uint8

const (
	tokEOF tokenKind = iota
	tokIdent
	tokString
	tokNumber
	tokTime
	tokLParen
	tokRParen
	tokLBracket
	tokRBracket
	tokComma
	tokOp // = != < <= > >=
)

// token is one lexical element. For identifiers, text is the source spelling and word its lower-case
// form when it is a keyword candidate (a name without dots), empty otherwise.
type token struct {
	kind  tokenKind
	pos   int
	text  string
	word  string
	value Value
}

// describe names a token for error messages.
func (t token) describe() string {
	switch t.kind {
	case tokEOF:
		return "end of input"
	case tokString:
		return "string " + t.value.String()
	case tokNumber, tokTime:
		return t.value.String()
	}
	return strconv.Quote(t.text)
}

// is reports whether t is the keyword w (lower case).
func (t token) is(w string) bool { return t.kind == tokIdent && t.word == w }

// keywords can't be used as (undotted) field names.
var keywords = map[string]bool{
	"and": true, "or": true, "not": true, "true": true, "false": true, "null": true,
	"in": true, "between": true, "contains": true, "icontains": true, "startswith": true,
	"endswith": true, "sort": true, "by": true, "asc": true, "desc": true, "skip": true,
	"limit": true, "none": true, "anyof": true, "allof": true, "count": true, "isempty": true,
	"datetime": true,
}

// lexer splits the source into tokens on demand.
type lexer struct {
	src string
	pos int
	ctx string // prefix for error messages, empty for the filter itself
}

func (l *lexer) errorf(pos int, format string, args ...any) *Error {
	return newError(l.ctx, pos, format, args...)
}

func isSpace(c byte) bool { return c == ' ' || c == '\t' || c == '\n' || c == '\r' }

func isIdentStart(c byte) bool {
	return c == '_' || ('a' <= c && c <= 'z') || ('A' <= c && c <= 'Z')
}

func isIdentPart(c byte) bool { return isIdentStart(c) || isDigit(c) }

func isDigit(c byte) bool { return '0' <= c && c <= '9' }

func (l *lexer) skipSpace() {
	for l.pos < len(l.src) && isSpace(l.src[l.pos]) {
		l.pos++
	}
}

// next returns the next token.
func (l *lexer) next() (token, error) {
	l.skipSpace()
	start := l.pos
	if l.pos >= len(l.src) {
		return token{kind: tokEOF, pos: start}, nil
	}
	c := l.src[l.pos]
	switch {
	case c == '(':
		l.pos++
		return token{kind: tokLParen, pos: start, text: "("}, nil
	case c == ')':
		l.pos++
		return token{kind: tokRParen, pos: start, text: ")"}, nil
	case c == '[':
		l.pos++
		return token{kind: tokLBracket, pos: start, text: "["}, nil
	case c == ']':
		l.pos++
		return token{kind: tokRBracket, pos: start, text: "]"}, nil
	case c == ',':
		l.pos++
		return token{kind: tokComma, pos: start, text: ","}, nil
	case c == '=':
		l.pos++
		if l.pos < len(l.src) && l.src[l.pos] == '=' {
			return token{}, l.errorf(start, `"==" is not an operator; use "="`)
		}
		return token{kind: tokOp, pos: start, text: "="}, nil
	case c == '!':
		if l.pos+1 < len(l.src) && l.src[l.pos+1] == '=' {
			l.pos += 2
			return token{kind: tokOp, pos: start, text: "!="}, nil
		}
		return token{}, l.errorf(start, `unexpected "!"; the operator is "!="`)
	case c == '<' || c == '>':
		l.pos++
		text := string(c)
		if l.pos < len(l.src) && l.src[l.pos] == '=' {
			l.pos++
			text += "="
		} else if c == '<' && l.pos < len(l.src) && l.src[l.pos] == '>' {
			return token{}, l.errorf(start, `"<>" is not an operator; use "!="`)
		}
		return token{kind: tokOp, pos: start, text: text}, nil
	case c == '"':
		return l.lexString()
	case c == '-' || isDigit(c):
		return l.lexNumber()
	case isIdentStart(c):
		return l.lexIdent()
	}
	r, _ := utf8.DecodeRuneInString(l.src[l.pos:])
	if r == utf8.RuneError {
		return token{}, l.errorf(start, "unexpected byte 0x%02x", c)
	}
	return token{}, l.errorf(start, "unexpected character %q", r)
}

// lexIdent reads a name, possibly dotted, or a datetime(...) literal.
func (l *lexer) lexIdent() (token, error) {
	start := l.pos
	for {
		for l.pos < len(l.src) && isIdentPart(l.src[l.pos]) {
			l.pos++
		}
		if l.pos+1 < len(l.src) && l.src[l.pos] == '.' && isIdentStart(l.src[l.pos+1]) {
			l.pos++
			continue
		}
		break
	}
	if l.pos < len(l.src) && l.src[l.pos] == '.' {
		return token{}, l.errorf(l.pos, "a name part after %q must start with a letter or _", l.src[start:l.pos+1])
	}
	text := l.src[start:l.pos]
	tok := token{kind: tokIdent, pos: start, text: text}
	if !strings.Contains(text, ".") {
		tok.word = strings.ToLower(text)
	}
	if tok.word == "datetime" {
		save := l.pos
		l.skipSpace()
		if l.pos < len(l.src) && l.src[l.pos] == '(' {
			return l.lexTime(start)
		}
		l.pos = save
	}
	return tok, nil
}

// lexTime reads the "(RFC3339)" part of a datetime literal; l.pos is at the "(".
func (l *lexer) lexTime(start int) (token, error) {
	open := l.pos
	end := strings.IndexByte(l.src[open:], ')')
	if end < 0 {
		return token{}, l.errorf(open, "datetime( is not closed")
	}
	inner := strings.Trim(l.src[open+1:open+end], " \t\r\n")
	t, err := time.Parse(time.RFC3339, inner)
	if err != nil {
		return token{}, l.errorf(open+1, "datetime(%s) is not an RFC3339 date and time such as 2024-01-02T03:04:05Z", inner)
	}
	l.pos = open + end + 1
	return token{kind: tokTime, pos: start, text: l.src[start:l.pos], value: Time(t)}, nil
}

// lexNumber reads -?digits(.digits)?([eE][+-]?digits)?: an integer unless it has a fraction or
// an exponent.
func (l *lexer) lexNumber() (token, error) {
	start := l.pos
	if l.src[l.pos] == '-' {
		l.pos++
	}
	digits := func() int {
		from := l.pos
		for l.pos < len(l.src) && isDigit(l.src[l.pos]) {
			l.pos++
		}
		return l.pos - from
	}
	if digits() == 0 {
		return token{}, l.errorf(start, `"-" must be followed by digits`)
	}
	isFloat := false
	if l.pos+1 < len(l.src) && l.src[l.pos] == '.' && isDigit(l.src[l.pos+1]) {
		l.pos++
		digits()
		isFloat = true
	}
	if l.pos < len(l.src) && (l.src[l.pos] == 'e' || l.src[l.pos] == 'E') {
		save := l.pos
		l.pos++
		if l.pos < len(l.src) && (l.src[l.pos] == '+' || l.src[l.pos] == '-') {
			l.pos++
		}
		if digits() == 0 {
			l.pos = save
		} else {
			isFloat = true
		}
	}
	if l.pos < len(l.src) && (isIdentStart(l.src[l.pos]) || l.src[l.pos] == '.') {
		return token{}, l.errorf(start, "malformed number %q", l.src[start:l.pos+1])
	}
	text := l.src[start:l.pos]
	tok := token{kind: tokNumber, pos: start, text: text}
	if isFloat {
		f, err := strconv.ParseFloat(text, 64)
		if err != nil {
			return token{}, l.errorf(start, "number %s is out of range", text)
		}
		tok.value = Float(f)
		return tok, nil
	}
	i, err := strconv.ParseInt(text, 10, 64)
	if err != nil {
		return token{}, l.errorf(start, "integer %s is out of range", text)
	}
	tok.value = Int(i)
	return tok, nil
}

// lexString reads a double-quoted string with JSON escapes.
func (l *lexer) lexString() (token, error) {
	start := l.pos
	l.pos++ // opening quote
	var b strings.Builder
	for {
		if l.pos >= len(l.src) {
			return token{}, l.errorf(start, "string is not closed")
		}
		c := l.src[l.pos]
		switch c {
		case '"':
			l.pos++
			return token{kind: tokString, pos: start, text: l.src[start:l.pos], value: String(b.String())}, nil
		case '\\':
			if err := l.lexEscape(&b); err != nil {
				return token{}, err
			}
		default:
			b.WriteByte(c)
			l.pos++
		}
	}
}

// lexEscape reads one escape sequence; l.pos is at the backslash.
func (l *lexer) lexEscape(b *strings.Builder) error {
	at := l.pos
	if l.pos+1 >= len(l.src) {
		return l.errorf(at, "string is not closed")
	}
	c := l.src[l.pos+1]
	l.pos += 2
	switch c {
	case '"', '\\', '/':
		b.WriteByte(c)
	case 'b':
		b.WriteByte('\b')
	case 'f':
		b.WriteByte('\f')
	case 'n':
		b.WriteByte('\n')
	case 'r':
		b.WriteByte('\r')
	case 't':
		b.WriteByte('\t')
	case 'u':
		r, ok := l.hex4()
		if !ok {
			return l.errorf(at, `\u must be followed by 4 hex digits`)
		}
		if utf16.IsSurrogate(r) {
			if r >= 0xdc00 || l.pos+1 >= len(l.src) || l.src[l.pos] != '\\' || l.src[l.pos+1] != 'u' {
				return l.errorf(at, `\u%04x is half of a surrogate pair`, r)
			}
			l.pos += 2
			low, ok := l.hex4()
			if !ok || low < 0xdc00 || low > 0xdfff {
				return l.errorf(at, `\u%04x is half of a surrogate pair`, r)
			}
			r = utf16.DecodeRune(r, low)
		}
		b.WriteRune(r)
	default:
		return l.errorf(at, `unknown escape \%c in string`, c)
	}
	return nil
}

func (l *lexer) hex4() (rune, bool) {
	if l.pos+4 > len(l.src) {
		return 0, false
	}
	n, err := strconv.ParseUint(l.src[l.pos:l.pos+4], 16, 16)
	if err != nil {
		return 0, false
	}
	l.pos += 4
	return rune(n), true
}
